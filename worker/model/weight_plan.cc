#include "worker/model/weight_plan.h"

#include "absl/strings/str_cat.h"

namespace r1 {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

PlannedTensor Make(std::string name, DType dtype, std::vector<int64_t> shape, TensorRole role,
                   int layer, int expert = -1) {
  PlannedTensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.role = role;
  t.layer = layer;
  t.expert = expert;
  return t;
}

class Planner {
 public:
  explicit Planner(const ModelConfig& c) : c_(c) {}

  void Vector(std::string name, int64_t n, TensorRole role, int layer) {
    plan_.tensors.push_back(Make(std::move(name), DType::kBF16, {n}, role, layer));
  }

  void Bf16Matrix(std::string name, int64_t out, int64_t in, TensorRole role, int layer) {
    plan_.tensors.push_back(Make(std::move(name), DType::kBF16, {out, in}, role, layer));
  }

  // A linear layer: FP8 + block scale when the checkpoint is quantized, else BF16.
  void Linear(const std::string& name, int64_t out, int64_t in, TensorRole role, int layer,
              int expert = -1) {
    if (!c_.is_fp8()) {
      plan_.tensors.push_back(Make(name, DType::kBF16, {out, in}, role, layer, expert));
      return;
    }
    PlannedTensor w = Make(name, DType::kF8E4M3, {out, in}, role, layer, expert);
    w.quantized_linear = true;
    plan_.tensors.push_back(w);
    PlannedTensor s = Make(ScaleName(name), DType::kF32, {CeilDiv(out, 128), CeilDiv(in, 128)},
                           role, layer, expert);
    s.is_scale = true;
    s.weight_shape = {out, in};
    plan_.tensors.push_back(s);
  }

  void Layer(int i, bool mtp) {
    const std::string p = LayerPrefix(i);
    const int64_t d = c_.hidden_size;
    const TensorRole attn = TensorRole::kAttention;
    Vector(p + "input_layernorm.weight", d, TensorRole::kNorm, i);
    Linear(p + "self_attn.q_a_proj.weight", c_.q_lora_rank, d, attn, i);
    Vector(p + "self_attn.q_a_layernorm.weight", c_.q_lora_rank, TensorRole::kNorm, i);
    Linear(p + "self_attn.q_b_proj.weight", c_.q_b_out(), c_.q_lora_rank, attn, i);
    Linear(p + "self_attn.kv_a_proj_with_mqa.weight", c_.kv_a_out(), d, attn, i);
    Vector(p + "self_attn.kv_a_layernorm.weight", c_.kv_lora_rank, TensorRole::kNorm, i);
    Linear(p + "self_attn.kv_b_proj.weight", c_.kv_b_out(), c_.kv_lora_rank, attn, i);
    Linear(p + "self_attn.o_proj.weight", d, c_.o_proj_in(), attn, i);
    Vector(p + "post_attention_layernorm.weight", d, TensorRole::kNorm, i);
    if (!c_.is_moe_layer(i)) {
      const int64_t f = c_.intermediate_size;
      Linear(p + "mlp.gate_proj.weight", f, d, TensorRole::kDenseFfn, i);
      Linear(p + "mlp.up_proj.weight", f, d, TensorRole::kDenseFfn, i);
      Linear(p + "mlp.down_proj.weight", d, f, TensorRole::kDenseFfn, i);
    } else {
      const int64_t e = c_.n_routed_experts;
      const int64_t f = c_.moe_intermediate_size;
      Bf16Matrix(p + "mlp.gate.weight", e, d, TensorRole::kRouter, i);
      plan_.tensors.push_back(
          Make(p + "mlp.gate.e_score_correction_bias", DType::kF32, {e}, TensorRole::kRouter, i));
      for (int x = 0; x < e; ++x) {
        const std::string ep = absl::StrCat(p, "mlp.experts.", x, ".");
        Linear(ep + "gate_proj.weight", f, d, TensorRole::kRoutedExpert, i, x);
        Linear(ep + "up_proj.weight", f, d, TensorRole::kRoutedExpert, i, x);
        Linear(ep + "down_proj.weight", d, f, TensorRole::kRoutedExpert, i, x);
      }
      if (c_.n_shared_experts > 0) {
        const int64_t s = c_.shared_expert_width();
        Linear(p + "mlp.shared_experts.gate_proj.weight", s, d, TensorRole::kSharedExpert, i);
        Linear(p + "mlp.shared_experts.up_proj.weight", s, d, TensorRole::kSharedExpert, i);
        Linear(p + "mlp.shared_experts.down_proj.weight", d, s, TensorRole::kSharedExpert, i);
      }
    }
    if (mtp) {
      const MtpTensorNames names = MtpNames(i);
      Bf16Matrix(p + "embed_tokens.weight", c_.vocab_size, d, TensorRole::kMtp, i);
      Vector(names.enorm, d, TensorRole::kMtp, i);
      Vector(names.hnorm, d, TensorRole::kMtp, i);
      Bf16Matrix(names.eh_proj, d, c_.eh_proj_in(), TensorRole::kMtp, i);
      Vector(names.head_norm, d, TensorRole::kMtp, i);
      Bf16Matrix(p + "shared_head.head.weight", c_.vocab_size, d, TensorRole::kMtp, i);
    }
  }

  WeightPlan Build() {
    Bf16Matrix("model.embed_tokens.weight", c_.vocab_size, c_.hidden_size, TensorRole::kEmbedding,
               -1);
    for (int i = 0; i < c_.num_hidden_layers; ++i) Layer(i, false);
    Vector("model.norm.weight", c_.hidden_size, TensorRole::kNorm, -1);
    Bf16Matrix("lm_head.weight", c_.vocab_size, c_.hidden_size, TensorRole::kLmHead, -1);
    for (int m = 0; m < c_.num_nextn_predict_layers; ++m) {
      Layer(static_cast<int>(c_.num_hidden_layers) + m, true);
    }
    plan_.mtp_first_layer = static_cast<int>(c_.num_hidden_layers);
    return std::move(plan_);
  }

 private:
  const ModelConfig& c_;
  WeightPlan plan_;
};

}  // namespace

uint64_t PlannedTensor::bytes() const {
  uint64_t n = DTypeSize(dtype);
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::string LayerPrefix(int layer) { return absl::StrCat("model.layers.", layer, "."); }

MtpTensorNames MtpNames(int layer) {
  const std::string p = LayerPrefix(layer);
  return {p + "enorm.weight", p + "hnorm.weight", p + "eh_proj.weight",
          p + "shared_head.norm.weight"};
}

std::string ScaleName(const std::string& weight_name) { return weight_name + "_scale_inv"; }

uint64_t Int4LinearBytes(int64_t out, int64_t in) {
  return static_cast<uint64_t>(out) * static_cast<uint64_t>(in) / 2 +
         static_cast<uint64_t>(out) * static_cast<uint64_t>(CeilDiv(in, 128)) * 2;
}

WeightPlan PlanWeights(const ModelConfig& c) { return Planner(c).Build(); }

WeightPlan::Totals WeightPlan::ComputeTotals(ExpertFormat experts) const {
  Totals t;
  for (const PlannedTensor& x : tensors) {
    uint64_t b = x.bytes();
    if (x.role == TensorRole::kRoutedExpert && experts == ExpertFormat::kInt4) {
      if (x.is_scale) continue;  // INT4 carries its own group scales
      b = Int4LinearBytes(x.shape[0], x.shape[1]);
    }
    // Every tensor of a layer at or past the first MTP layer id counts as MTP.
    if (x.role == TensorRole::kMtp || x.layer >= mtp_first_layer) {
      t.mtp += b;
      continue;
    }
    switch (x.role) {
      case TensorRole::kRoutedExpert:
        t.routed_experts += b;
        break;
      case TensorRole::kSharedExpert:
        t.shared_experts += b;
        break;
      case TensorRole::kAttention:
        t.attention += b;
        break;
      case TensorRole::kDenseFfn:
        t.dense_ffn += b;
        break;
      case TensorRole::kRouter:
        t.routers += b;
        break;
      case TensorRole::kNorm:
        t.norms += b;
        break;
      case TensorRole::kEmbedding:
        t.embedding += b;
        break;
      case TensorRole::kLmHead:
        t.lm_head += b;
        break;
      case TensorRole::kMtp:
        break;
    }
  }
  return t;
}

}  // namespace r1
