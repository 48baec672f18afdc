#include "worker/model/dense_weight_plan.h"

namespace r1 {

uint64_t DenseTensor::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::vector<DenseTensor> PlanDenseTensors(const DenseModelConfig& c) {
  const int64_t h = c.hidden_size, q = c.q_width(), kv = c.kv_width(), f = c.intermediate_size;
  std::vector<DenseTensor> t;
  t.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, TensorRole::kEmbedding});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = LayerPrefix(i);
    auto add = [&](const std::string& name, std::vector<int64_t> shape, TensorRole role) {
      t.push_back({p + name, std::move(shape), role, i});
    };
    add("input_layernorm.weight", {h}, TensorRole::kNorm);
    add("self_attn.q_proj.weight", {q, h}, TensorRole::kAttention);
    add("self_attn.k_proj.weight", {kv, h}, TensorRole::kAttention);
    add("self_attn.v_proj.weight", {kv, h}, TensorRole::kAttention);
    if (c.qkv_bias) {
      add("self_attn.q_proj.bias", {q}, TensorRole::kAttention);
      add("self_attn.k_proj.bias", {kv}, TensorRole::kAttention);
      add("self_attn.v_proj.bias", {kv}, TensorRole::kAttention);
    }
    add("self_attn.o_proj.weight", {h, q}, TensorRole::kAttention);
    if (c.o_bias) add("self_attn.o_proj.bias", {h}, TensorRole::kAttention);
    add("post_attention_layernorm.weight", {h}, TensorRole::kNorm);
    add("mlp.gate_proj.weight", {f, h}, TensorRole::kDenseFfn);
    add("mlp.up_proj.weight", {f, h}, TensorRole::kDenseFfn);
    add("mlp.down_proj.weight", {h, f}, TensorRole::kDenseFfn);
  }
  t.push_back({"model.norm.weight", {h}, TensorRole::kNorm});
  if (!c.tie_word_embeddings) {
    t.push_back({"lm_head.weight", {c.vocab_size, h}, TensorRole::kLmHead});
  }
  return t;
}

DenseWeightTotals ComputeDenseTotals(const DenseModelConfig& c, uint64_t bytes_per_value) {
  DenseWeightTotals s;
  for (const DenseTensor& t : PlanDenseTensors(c)) {
    const uint64_t b = t.numel() * bytes_per_value;
    switch (t.role) {
      case TensorRole::kEmbedding:
        s.embedding += b;
        break;
      case TensorRole::kLmHead:
        s.lm_head += b;
        break;
      case TensorRole::kNorm:
        s.norms += b;
        break;
      case TensorRole::kAttention:
        s.attention += b;
        break;
      default:
        s.mlp += b;
        break;
    }
  }
  return s;
}

}  // namespace r1
