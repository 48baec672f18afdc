#include "worker/model/dense_weights.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/numeric.h"
#include "common/status_macros.h"
#include "worker/model/dense_tensor_reader.h"

namespace r1 {
namespace {

// Fetches planned tensors by name as float32.
class DenseLoader {
 public:
  DenseLoader(const DenseModelConfig& c, const Checkpoint& ck) : reader_(c, ck) {}

  absl::StatusOr<std::vector<float>> Floats(const std::string& name) const {
    ASSIGN_OR_RETURN(DenseTensorReader::Checked t, reader_.Get(name));
    const uint64_t n = t.planned->numel();
    std::vector<float> out(n);
    if (t.view.dtype() == DType::kBF16) {
      for (uint64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.view.data + 2 * i, 2);
        out[i] = Bf16ToFloat(h);
      }
    } else {
      std::memcpy(out.data(), t.view.data, n * 4);
    }
    return out;
  }

  absl::StatusOr<LinearWeight> Linear(const std::string& name) const {
    ASSIGN_OR_RETURN(DenseTensorReader::Checked t, reader_.Get(name));
    LinearWeight lw;
    ASSIGN_OR_RETURN(lw.w, Floats(name));
    lw.out = t.planned->shape[0];
    lw.in = t.planned->shape[1];
    return lw;
  }

 private:
  DenseTensorReader reader_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DenseWeights>> LoadDenseWeights(const DenseModelConfig& c,
                                                               const Checkpoint& checkpoint) {
  DenseLoader ld(c, checkpoint);
  auto m = std::make_unique<DenseWeights>();
  m->config = c;
  ASSIGN_OR_RETURN(m->embed, ld.Floats("model.embed_tokens.weight"));
  ASSIGN_OR_RETURN(m->final_norm, ld.Floats("model.norm.weight"));
  if (!c.tie_word_embeddings) {
    ASSIGN_OR_RETURN(m->lm_head, ld.Linear("lm_head.weight"));
  }
  m->layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    DenseLayerWeights& L = m->layers[i];
    const std::string p = LayerPrefix(i);
    ASSIGN_OR_RETURN(L.input_norm, ld.Floats(p + "input_layernorm.weight"));
    ASSIGN_OR_RETURN(L.post_attention_norm, ld.Floats(p + "post_attention_layernorm.weight"));
    ASSIGN_OR_RETURN(L.q, ld.Linear(p + "self_attn.q_proj.weight"));
    ASSIGN_OR_RETURN(L.k, ld.Linear(p + "self_attn.k_proj.weight"));
    ASSIGN_OR_RETURN(L.v, ld.Linear(p + "self_attn.v_proj.weight"));
    ASSIGN_OR_RETURN(L.o, ld.Linear(p + "self_attn.o_proj.weight"));
    if (c.qkv_bias) {
      ASSIGN_OR_RETURN(L.q_bias, ld.Floats(p + "self_attn.q_proj.bias"));
      ASSIGN_OR_RETURN(L.k_bias, ld.Floats(p + "self_attn.k_proj.bias"));
      ASSIGN_OR_RETURN(L.v_bias, ld.Floats(p + "self_attn.v_proj.bias"));
    }
    if (c.o_bias) {
      ASSIGN_OR_RETURN(L.o_bias, ld.Floats(p + "self_attn.o_proj.bias"));
    }
    ASSIGN_OR_RETURN(L.mlp.gate, ld.Linear(p + "mlp.gate_proj.weight"));
    ASSIGN_OR_RETURN(L.mlp.up, ld.Linear(p + "mlp.up_proj.weight"));
    ASSIGN_OR_RETURN(L.mlp.down, ld.Linear(p + "mlp.down_proj.weight"));
  }
  return m;
}

absl::StatusOr<std::unique_ptr<DenseWeights>> LoadDenseModelDir(const std::string& dir) {
  ASSIGN_OR_RETURN(DenseModelConfig c, LoadDenseModelConfig(dir + "/config.json"));
  ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ck, Checkpoint::Open(dir));
  return LoadDenseWeights(c, *ck);
}

}  // namespace r1
