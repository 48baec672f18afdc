// Memory plan for serving a dense R1-Distill model (Qwen2 / Llama) on one GPU: the whole model
// is held in BF16 as shipped; what is left of the device (after a reserve for activations and
// workspace) holds the GQA KV cache (per layer and token one K and one V row of
// num_key_value_heads·head_dim values). r1serve has no tensor parallelism, so a dense model
// fits only where its weights fit one device. Pure arithmetic; thread-safe.
#ifndef R1_WORKER_MODEL_DENSE_MEMORY_PLAN_H_
#define R1_WORKER_MODEL_DENSE_MEMORY_PLAN_H_

#include <cstdint>
#include <string>

#include "common/dense_model_config.h"
#include "worker/model/dense_weight_plan.h"
#include "worker/model/memory_plan.h"  // KvFormat

namespace r1 {

// Device memory as the driver reports it (nvidia-smi's total): H100 SXM 80 GB, H200 141 GB.
inline constexpr uint64_t kH100DeviceBytes = 81559ull << 20;
inline constexpr uint64_t kH200DeviceBytes = 143771ull << 20;

struct DenseMemoryPlanInput {
  KvFormat kv = KvFormat::kBf16;
  int64_t context_tokens = 0;  // one sequence of this length must fit
  uint64_t device_bytes = 0;   // memory of the GPU
  double reserve_fraction = 0.05;
};

struct DenseMemoryPlan {
  DenseWeightTotals weights;  // BF16 bytes by role
  uint64_t weight_bytes = 0;
  uint64_t kv_bytes_per_token = 0;
  uint64_t kv_capacity_tokens = 0;
  bool fits = false;  // weights fit and at least one full context fits
  std::string Report() const;
};

// KV bytes per token: layers · 2 · num_key_value_heads · head_dim · (2 for BF16, 1 for FP8).
uint64_t DenseKvBytesPerToken(const DenseModelConfig& c, KvFormat kv);

DenseMemoryPlan PlanDenseMemory(const DenseModelConfig& c, const DenseMemoryPlanInput& in);

}  // namespace r1

#endif  // R1_WORKER_MODEL_DENSE_MEMORY_PLAN_H_
