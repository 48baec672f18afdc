// Per-GPU memory plan for serving a config with engine groups of `group_size` workers (spec §13):
// every worker holds the replicated weights (attention, dense FFN, shared experts, routers, norms,
// embedding, lm_head; the MTP layer optionally) and 1/group_size of the routed experts; what is
// left of the device (after a reserve for activations and workspace) holds the latent KV cache.
// Pure arithmetic; thread-safe.
#ifndef R1_WORKER_MODEL_MEMORY_PLAN_H_
#define R1_WORKER_MODEL_MEMORY_PLAN_H_

#include <cstdint>
#include <string>

#include "common/model_config.h"
#include "worker/model/weight_plan.h"

namespace r1 {

enum class KvFormat { kBf16, kFp8 };

// How a backend lays the weights out on its device: as stored in the checkpoint, or as the CUDA
// backend holds them (kv_b_proj dequantised to bf16 for the absorbed attention instead of e4m3
// with block scales: H·(nope + v)·kv_lora more bytes per layer, ≈0.95 GiB at R1's size).
enum class WeightLayout { kCheckpoint, kCuda };

struct MemoryPlanInput {
  int group_size = 1;
  ExpertFormat experts = ExpertFormat::kCheckpoint;
  KvFormat kv = KvFormat::kBf16;
  int64_t context_tokens = 0;      // one sequence of this length must fit
  uint64_t device_bytes = 0;       // memory of one GPU
  double reserve_fraction = 0.05;  // activations, workspace, allocator slack
  bool include_mtp = false;
  WeightLayout layout = WeightLayout::kCheckpoint;
};

struct MemoryPlan {
  uint64_t replicated_bytes = 0;    // per worker (with the layout's extra copies)
  uint64_t layout_extra_bytes = 0;  // of which: the layout's copies beyond the checkpoint's
  uint64_t expert_bytes = 0;        // per worker (its share of routed experts)
  uint64_t kv_bytes_per_token = 0;
  uint64_t kv_capacity_tokens = 0;  // per worker
  bool fits = false;                // weights fit and at least one full context fits
  std::string Report() const;
};

MemoryPlan PlanMemory(const ModelConfig& c, const MemoryPlanInput& in);

}  // namespace r1

#endif  // R1_WORKER_MODEL_MEMORY_PLAN_H_
