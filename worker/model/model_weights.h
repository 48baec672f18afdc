// ModelWeights: a DeepSeek-V3 model's weights in float32 host memory for the CPU backend
// (FP8 weights dequantised exactly, W = e4m3(Q)·S per 128×128 block; BF16/F32 widened).
// Built once by LoadModelWeights; immutable afterwards and safe to share across threads.
// With LoadOptions::load_mtp it also holds the MTP module (spec §10), whose embedding and head
// are the main model's (the checkpoint's copies are checked, not loaded).
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

// The MTP module, layer num_hidden_layers (spec §10): x' = eh_proj·[enorm(emb) ; hnorm(h)], a
// full decoder layer, then shared_head.norm before the main model's lm_head.
struct MtpWeights {
  std::vector<float> enorm, hnorm, head_norm;  // head_norm: shared_head.norm
  LinearWeight eh_proj;                        // [d][2d], embedding columns first
  LayerWeights layer;
};

struct ModelWeights {
  ModelConfig config;
  std::vector<float> embed;  // [V][d]
  std::vector<float> final_norm;
  LinearWeight lm_head;
  std::vector<LayerWeights> layers;
  // Loaded with LoadOptions::load_mtp (empty otherwise): the first MTP module, layer
  // num_hidden_layers. Further MTP modules (num_nextn_predict_layers > 1) are not loaded.
  std::vector<MtpWeights> mtp;
};

struct LoadOptions {
  // Which routed experts to load (layer, expert); null loads all.
  std::function<bool(int, int)> want_expert;
  // Check that the MTP layers' tensors exist with the planned dtype and shape (not loaded).
  bool verify_mtp = true;
  // Load the first MTP module (ModelWeights::mtp) for speculative decoding; off by default, so
  // memory is unchanged. Its routed experts follow want_expert (layer num_hidden_layers).
  // InvalidArgument when the config has no MTP layer (num_nextn_predict_layers = 0).
  bool load_mtp = false;
};

// Loads and validates every main-model tensor from `source` (MTP tensors are checked with
// verify_mtp, and the MTP module loaded with load_mtp). Errors name the tensor and the file.
absl::StatusOr<std::unique_ptr<ModelWeights>> LoadModelWeights(const ModelConfig& config,
                                                               const WeightSource& source,
                                                               const LoadOptions& options = {});

}  // namespace r1

#endif  // R1_WORKER_MODEL_MODEL_WEIGHTS_H_
