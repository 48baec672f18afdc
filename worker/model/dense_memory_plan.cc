#include "worker/model/dense_memory_plan.h"

#include "absl/strings/str_format.h"

namespace r1 {

uint64_t DenseKvBytesPerToken(const DenseModelConfig& c, KvFormat kv) {
  return static_cast<uint64_t>(c.num_hidden_layers) * static_cast<uint64_t>(c.kv_row()) *
         (kv == KvFormat::kBf16 ? 2 : 1);
}

DenseMemoryPlan PlanDenseMemory(const DenseModelConfig& c, const DenseMemoryPlanInput& in) {
  DenseMemoryPlan p;
  p.weights = ComputeDenseTotals(c, 2);
  p.weight_bytes = p.weights.total();
  p.kv_bytes_per_token = DenseKvBytesPerToken(c, in.kv);
  const double usable = static_cast<double>(in.device_bytes) * (1.0 - in.reserve_fraction);
  const double left = usable - static_cast<double>(p.weight_bytes);
  p.kv_capacity_tokens = left > 0 ? static_cast<uint64_t>(left) / p.kv_bytes_per_token : 0;
  p.fits = left > 0 && p.kv_capacity_tokens >= static_cast<uint64_t>(in.context_tokens);
  return p;
}

std::string DenseMemoryPlan::Report() const {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  return absl::StrFormat(
      "weights (BF16): %.2f GiB (embedding %.2f, lm_head %.2f, attention %.2f, mlp %.2f, "
      "norms %.4f)\n"
      "KV cache: %d B/token, capacity %d tokens\n"
      "fits: %s\n",
      weight_bytes / kGiB, weights.embedding / kGiB, weights.lm_head / kGiB,
      weights.attention / kGiB, weights.mlp / kGiB, weights.norms / kGiB, kv_bytes_per_token,
      kv_capacity_tokens, fits ? "yes" : "no");
}

}  // namespace r1
