// DenseWeightPlan: every tensor of a Qwen2 / Llama (R1-Distill) Hugging Face checkpoint for a
// config — names, shapes, roles — and their byte totals. Pure computation, nothing allocated, so
// a 70B model plans on any machine. Plain values; thread-compatible.
#ifndef R1_WORKER_MODEL_DENSE_WEIGHT_PLAN_H_
#define R1_WORKER_MODEL_DENSE_WEIGHT_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/dense_model_config.h"
#include "worker/model/weight_plan.h"  // TensorRole, LayerPrefix

namespace r1 {

struct DenseTensor {
  std::string name;
  std::vector<int64_t> shape;
  TensorRole role;  // kEmbedding, kLmHead, kNorm, kAttention or kDenseFfn
  int layer = -1;   // -1 for global tensors
  uint64_t numel() const;
};

struct DenseWeightTotals {
  uint64_t embedding = 0;
  uint64_t lm_head = 0;  // 0 with tied embeddings
  uint64_t attention = 0;
  uint64_t mlp = 0;
  uint64_t norms = 0;
  uint64_t total() const { return embedding + lm_head + attention + mlp + norms; }
};

// The checkpoint's tensors in load order: embedding, per layer (norms, q/k/v/o and their biases
// as the config says, gate/up/down), final norm, lm_head (absent with tie_word_embeddings).
std::vector<DenseTensor> PlanDenseTensors(const DenseModelConfig& c);

// Bytes of every tensor at `bytes_per_value` (2 for the BF16 checkpoints as shipped).
DenseWeightTotals ComputeDenseTotals(const DenseModelConfig& c, uint64_t bytes_per_value);

}  // namespace r1

#endif  // R1_WORKER_MODEL_DENSE_WEIGHT_PLAN_H_
