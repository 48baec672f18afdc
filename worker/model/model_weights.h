// ModelWeights: a DeepSeek-V3 model's weights in float32 host memory for the CPU backend
// (FP8 weights dequantised exactly, W = e4m3(Q)·S per 128×128 block; BF16/F32 widened).
// Built once by LoadModelWeights; immutable afterwards and safe to share across threads.
#ifndef R1_WORKER_MODEL_MODEL_WEIGHTS_H_
#define R1_WORKER_MODEL_MODEL_WEIGHTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "worker/model/weight_source.h"

namespace r1 {

struct LinearWeight {
  int64_t out = 0;
  int64_t in = 0;
  std::vector<float> w;  // [out][in]
  bool fp8 = false;      // stored as FP8 in the checkpoint (FP8-activation mode quantises input)
  bool empty() const { return w.empty(); }
};

struct FfnWeights {
  LinearWeight gate, up, down;
};

struct LayerWeights {
  std::vector<float> input_norm, post_attention_norm, q_a_norm, kv_a_norm;
  LinearWeight q_a, q_b, kv_a, kv_b, o;
  bool moe = false;
  FfnWeights dense;                 // !moe
  std::vector<float> router;        // moe: [E][d]
  std::vector<float> router_bias;   // moe: [E]
  std::vector<FfnWeights> experts;  // moe: E entries; empty entries are not held by this rank
  FfnWeights shared;                // moe with shared experts
};

struct ModelWeights {
  ModelConfig config;
  std::vector<float> embed;  // [V][d]
  std::vector<float> final_norm;
  LinearWeight lm_head;
  std::vector<LayerWeights> layers;
};

struct LoadOptions {
  // Which routed experts to load (layer, expert); null loads all.
  std::function<bool(int, int)> want_expert;
  // Check that the MTP layers' tensors exist with the planned dtype and shape (not loaded).
  bool verify_mtp = true;
};

// Loads and validates every main-model tensor from `source` (MTP tensors are checked, not
// loaded, with verify_mtp). Errors name the tensor and the file.
absl::StatusOr<std::unique_ptr<ModelWeights>> LoadModelWeights(const ModelConfig& config,
                                                               const WeightSource& source,
                                                               const LoadOptions& options = {});

}  // namespace r1

#endif  // R1_WORKER_MODEL_MODEL_WEIGHTS_H_
