// WeightPlan: every tensor a DeepSeek-V3 checkpoint holds for a config (spec §3.2), with its name,
// dtype and shape, and the byte arithmetic of spec §13. Pure computation: nothing is allocated,
// so the full 671B model can be planned on any machine. Plain values; thread-compatible.
#ifndef R1_WORKER_MODEL_WEIGHT_PLAN_H_
#define R1_WORKER_MODEL_WEIGHT_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/model_config.h"

namespace r1 {

// What a tensor is for; drives placement (replicated vs per-rank experts) and byte reports.
enum class TensorRole {
  kEmbedding,
  kLmHead,
  kNorm,
  kAttention,
  kDenseFfn,
  kRouter,
  kRoutedExpert,
  kSharedExpert,
  kMtp,  // MTP-only tensors (enorm, hnorm, eh_proj, its embedding/head copies)
};

struct PlannedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  TensorRole role;
  int layer = -1;                     // -1 for global tensors
  int expert = -1;                    // routed expert index, else -1
  bool is_scale = false;              // a `weight_scale_inv`
  bool quantized_linear = false;      // an FP8 weight that has a `_scale_inv` companion
  std::vector<int64_t> weight_shape;  // for a scale: the shape of the weight it scales
  uint64_t bytes() const;
};

// Storage format assumed for routed experts in a byte count.
enum class ExpertFormat { kCheckpoint, kInt4 };

struct WeightPlan {
  std::vector<PlannedTensor> tensors;
  int mtp_first_layer = 0;  // = num_hidden_layers

  // Sums over tensors that satisfy the filter; MTP layers are counted only with include_mtp.
  struct Totals {
    uint64_t routed_experts = 0;
    uint64_t shared_experts = 0;
    uint64_t attention = 0;
    uint64_t dense_ffn = 0;
    uint64_t routers = 0;
    uint64_t norms = 0;
    uint64_t embedding = 0;
    uint64_t lm_head = 0;
    uint64_t mtp = 0;  // every tensor of the MTP layers (their attention/MoE included)
    uint64_t main_model() const {
      return routed_experts + shared_experts + attention + dense_ffn + routers + norms + embedding +
             lm_head;
    }
  };
  Totals ComputeTotals(ExpertFormat experts) const;
};

// All tensors of the checkpoint for `c`: main layers, then the MTP layers (ids L..L+n-1).
WeightPlan PlanWeights(const ModelConfig& c);

// Bytes of one [out × in] linear weight stored as INT4 (group 128 along `in`, BF16 scales).
uint64_t Int4LinearBytes(int64_t out, int64_t in);

// Name helpers (HF layout).
std::string LayerPrefix(int layer);  // "model.layers.{i}."

// The tensor names of the MTP module at `layer` (spec §10) that a loader reads: one list for the
// plan and both loaders (the module's embed_tokens and shared_head.head copy the main model's
// and are only checked).
struct MtpTensorNames {
  std::string enorm, hnorm, eh_proj, head_norm;
};
MtpTensorNames MtpNames(int layer);
std::string ScaleName(const std::string& weight_name);  // "<name>_scale_inv"

}  // namespace r1

#endif  // R1_WORKER_MODEL_WEIGHT_PLAN_H_
