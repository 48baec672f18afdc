#include "worker/model/model_weights.h"

#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "common/numeric.h"
#include "common/status_macros.h"

namespace r1 {
namespace {

class Loader {
 public:
  Loader(const ModelConfig& c, const WeightSource& src) : src_(src), plan_(PlanWeights(c)) {
    for (const PlannedTensor& t : plan_.tensors) by_name_[t.name] = &t;
  }

  absl::StatusOr<const PlannedTensor*> Planned(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return absl::InternalError(absl::StrCat("unplanned tensor ", name));
    return it->second;
  }

  // Any non-FP8 tensor widened to float.
  absl::StatusOr<std::vector<float>> Floats(const std::string& name) const {
    ASSIGN_OR_RETURN(const PlannedTensor* t, Planned(name));
    ASSIGN_OR_RETURN(TensorBytes b, src_.Fetch(*t));
    const uint64_t n = t->bytes() / DTypeSize(t->dtype);
    std::vector<float> out(n);
    if (t->dtype == DType::kBF16) {
      for (uint64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b.data + 2 * i, 2);
        out[i] = Bf16ToFloat(h);
      }
    } else if (t->dtype == DType::kF32) {
      std::memcpy(out.data(), b.data, n * 4);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(b.origin, ": tensor '", name, "': unexpected dtype ", DTypeName(t->dtype)));
    }
    return out;
  }

  absl::StatusOr<LinearWeight> Linear(const std::string& name) const {
    ASSIGN_OR_RETURN(const PlannedTensor* t, Planned(name));
    LinearWeight lw;
    lw.out = t->shape[0];
    lw.in = t->shape[1];
    if (!t->quantized_linear) {
      ASSIGN_OR_RETURN(lw.w, Floats(name));
      return lw;
    }
    lw.fp8 = true;
    ASSIGN_OR_RETURN(TensorBytes q, src_.Fetch(*t));
    ASSIGN_OR_RETURN(const PlannedTensor* st, Planned(ScaleName(name)));
    ASSIGN_OR_RETURN(TensorBytes s, src_.Fetch(*st));
    const int64_t bc = st->shape[1];
    std::vector<float> scales(st->bytes() / 4);
    std::memcpy(scales.data(), s.data, st->bytes());
    for (size_t i = 0; i < scales.size(); ++i) {
      if (!std::isfinite(scales[i])) {
        return absl::InvalidArgumentError(absl::StrCat(s.origin, ": tensor '", ScaleName(name),
                                                       "': non-finite scale at index ", i));
      }
    }
    lw.w.resize(lw.out * lw.in);
    for (int64_t i = 0; i < lw.out; ++i) {
      for (int64_t j = 0; j < lw.in; ++j) {
        lw.w[i * lw.in + j] =
            Fp8E4m3ToFloat(q.data[i * lw.in + j]) * scales[(i / 128) * bc + j / 128];
      }
    }
    return lw;
  }

  absl::StatusOr<FfnWeights> Ffn(const std::string& prefix) const {
    FfnWeights f;
    ASSIGN_OR_RETURN(f.gate, Linear(prefix + "gate_proj.weight"));
    ASSIGN_OR_RETURN(f.up, Linear(prefix + "up_proj.weight"));
    ASSIGN_OR_RETURN(f.down, Linear(prefix + "down_proj.weight"));
    return f;
  }

  // Checks presence, dtype and shape without converting (MTP layers).
  absl::Status Check(const PlannedTensor& t) const { return src_.Fetch(t).status(); }

  const WeightPlan& plan() const { return plan_; }

 private:
  const WeightSource& src_;
  WeightPlan plan_;
  std::unordered_map<std::string, const PlannedTensor*> by_name_;
};

// One decoder layer (main, or the MTP module's): attention, then a dense FFN or the MoE.
absl::Status LoadLayer(const Loader& ld, const ModelConfig& c, int i, const LoadOptions& options,
                       LayerWeights* out) {
  LayerWeights& L = *out;
  const std::string p = LayerPrefix(i);
  ASSIGN_OR_RETURN(L.input_norm, ld.Floats(p + "input_layernorm.weight"));
  ASSIGN_OR_RETURN(L.post_attention_norm, ld.Floats(p + "post_attention_layernorm.weight"));
  ASSIGN_OR_RETURN(L.q_a_norm, ld.Floats(p + "self_attn.q_a_layernorm.weight"));
  ASSIGN_OR_RETURN(L.kv_a_norm, ld.Floats(p + "self_attn.kv_a_layernorm.weight"));
  ASSIGN_OR_RETURN(L.q_a, ld.Linear(p + "self_attn.q_a_proj.weight"));
  ASSIGN_OR_RETURN(L.q_b, ld.Linear(p + "self_attn.q_b_proj.weight"));
  ASSIGN_OR_RETURN(L.kv_a, ld.Linear(p + "self_attn.kv_a_proj_with_mqa.weight"));
  ASSIGN_OR_RETURN(L.kv_b, ld.Linear(p + "self_attn.kv_b_proj.weight"));
  ASSIGN_OR_RETURN(L.o, ld.Linear(p + "self_attn.o_proj.weight"));
  L.moe = c.is_moe_layer(i);
  if (!L.moe) {
    ASSIGN_OR_RETURN(L.dense, ld.Ffn(p + "mlp."));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(L.router, ld.Floats(p + "mlp.gate.weight"));
  ASSIGN_OR_RETURN(L.router_bias, ld.Floats(p + "mlp.gate.e_score_correction_bias"));
  L.experts.resize(c.n_routed_experts);
  for (int e = 0; e < c.n_routed_experts; ++e) {
    if (options.want_expert && !options.want_expert(i, e)) continue;
    ASSIGN_OR_RETURN(L.experts[e], ld.Ffn(absl::StrCat(p, "mlp.experts.", e, ".")));
  }
  if (c.n_shared_experts > 0) {
    ASSIGN_OR_RETURN(L.shared, ld.Ffn(p + "mlp.shared_experts."));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelWeights>> LoadModelWeights(const ModelConfig& c,
                                                               const WeightSource& source,
                                                               const LoadOptions& options) {
  Loader ld(c, source);
  auto m = std::make_unique<ModelWeights>();
  m->config = c;
  ASSIGN_OR_RETURN(m->embed, ld.Floats("model.embed_tokens.weight"));
  ASSIGN_OR_RETURN(m->final_norm, ld.Floats("model.norm.weight"));
  ASSIGN_OR_RETURN(m->lm_head, ld.Linear("lm_head.weight"));
  m->layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    RETURN_IF_ERROR(LoadLayer(ld, c, i, options, &m->layers[i]));
  }
  if (options.load_mtp) {
    if (c.num_nextn_predict_layers < 1) {
      return absl::InvalidArgumentError("load_mtp: the config has no MTP layer");
    }
    const int i = static_cast<int>(c.num_hidden_layers);
    const MtpTensorNames names = MtpNames(i);
    MtpWeights& mtp = m->mtp.emplace_back();
    ASSIGN_OR_RETURN(mtp.enorm, ld.Floats(names.enorm));
    ASSIGN_OR_RETURN(mtp.hnorm, ld.Floats(names.hnorm));
    ASSIGN_OR_RETURN(mtp.head_norm, ld.Floats(names.head_norm));
    ASSIGN_OR_RETURN(mtp.eh_proj, ld.Linear(names.eh_proj));
    RETURN_IF_ERROR(LoadLayer(ld, c, i, options, &mtp.layer));
  }
  for (const PlannedTensor& t : ld.plan().tensors) {
    if (options.verify_mtp && t.layer >= ld.plan().mtp_first_layer) {
      RETURN_IF_ERROR(ld.Check(t));
    }
  }
  return m;
}

}  // namespace r1
