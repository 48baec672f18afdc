// ExpertExecutor: the seam through which CpuModel runs the routed experts of every MoE layer when
// its worker belongs to an expert-parallel group (DESIGN.md §3, §6; worker/comm/ep_moe.h over
// Gloo). It is injected at model construction (ModelOptions::expert_executor). The CUDA
// backend's counterpart, over device rows, is DeviceExpertExecutor
// (worker/backend/device_expert_executor.h); both follow the same protocol: counts, dispatch
// (a token's row once per destination rank), this rank's experts, combine.
#ifndef R1_WORKER_MODEL_EXPERT_EXECUTOR_H_
#define R1_WORKER_MODEL_EXPERT_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "worker/model/gating.h"

namespace r1 {

// Runs the routed experts of every MoE layer in place of CpuModel's local loop, e.g. across the
// ranks of an expert-parallel group (worker/comm/ep_moe.h). Forward calls it once per MoE layer,
// also with n = 0 (an empty lockstep step), after the shared expert has written `out`.
class ExpertExecutor {
 public:
  // Runs routed expert `expert` of the current layer on x[m][d] into y[m][d] with the model's FFN
  // and precision; FailedPrecondition when this rank did not load that expert.
  using ExpertFfn = std::function<absl::Status(int expert, const float* x, int64_t m, float* y)>;

  virtual ~ExpertExecutor() = default;
  // Adds Σ_j choices[t].weights[j] · FFN_{choices[t].experts[j]}(h[t]) to out[t] for t < n.
  virtual absl::Status Run(int layer, const float* h, int64_t n,
                           const std::vector<ExpertChoice>& choices, const ExpertFfn& ffn,
                           float* out) = 0;
};

}  // namespace r1

#endif  // R1_WORKER_MODEL_EXPERT_EXECUTOR_H_
