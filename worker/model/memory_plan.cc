#include "worker/model/memory_plan.h"

#include "absl/strings/str_format.h"

namespace r1 {

MemoryPlan PlanMemory(const ModelConfig& c, const MemoryPlanInput& in) {
  const WeightPlan::Totals t = PlanWeights(c).ComputeTotals(in.experts);
  MemoryPlan p;
  p.replicated_bytes = t.shared_experts + t.attention + t.dense_ffn + t.routers + t.norms +
                       t.embedding + t.lm_head + (in.include_mtp ? t.mtp : 0);
  const int g = in.group_size < 1 ? 1 : in.group_size;
  p.expert_bytes = (t.routed_experts + static_cast<uint64_t>(g) - 1) / static_cast<uint64_t>(g);
  const uint64_t layers = static_cast<uint64_t>(c.num_hidden_layers) +
                          (in.include_mtp ? static_cast<uint64_t>(c.num_nextn_predict_layers) : 0);
  if (in.layout == WeightLayout::kCuda) {
    // kv_b_proj held in bf16 instead of e4m3 + its 128×128 f32 block scales.
    const uint64_t rows = static_cast<uint64_t>(c.num_attention_heads) *
                          static_cast<uint64_t>(c.qk_nope_head_dim + c.v_head_dim);
    const uint64_t cols = static_cast<uint64_t>(c.kv_lora_rank);
    const uint64_t scales = ((rows + 127) / 128) * ((cols + 127) / 128) * 4;
    p.layout_extra_bytes = layers * (rows * cols * 2 - (rows * cols + scales));
    p.replicated_bytes += p.layout_extra_bytes;
  }
  const uint64_t row = static_cast<uint64_t>(c.kv_lora_rank + c.qk_rope_head_dim);
  p.kv_bytes_per_token = layers * row * (in.kv == KvFormat::kBf16 ? 2 : 1);
  const double usable = static_cast<double>(in.device_bytes) * (1.0 - in.reserve_fraction);
  const double left = usable - static_cast<double>(p.replicated_bytes + p.expert_bytes);
  p.kv_capacity_tokens = left > 0 ? static_cast<uint64_t>(left) / p.kv_bytes_per_token : 0;
  p.fits = left > 0 && p.kv_capacity_tokens >= static_cast<uint64_t>(in.context_tokens);
  return p;
}

std::string MemoryPlan::Report() const {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  return absl::StrFormat(
      "per GPU: replicated weights %.2f GiB (%.2f GiB of it: kv_b_proj in bf16 on the device), "
      "routed experts %.2f GiB, total %.2f GiB\n"
      "KV cache: %d B/token, capacity %d tokens\n"
      "fits: %s\n",
      replicated_bytes / kGiB, layout_extra_bytes / kGiB, expert_bytes / kGiB,
      (replicated_bytes + expert_bytes) / kGiB, kv_bytes_per_token, kv_capacity_tokens,
      fits ? "yes" : "no");
}

}  // namespace r1
