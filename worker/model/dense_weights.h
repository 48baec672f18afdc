// DenseWeights: a Qwen2 / Llama (R1-Distill) model's weights in float32 host memory for the CPU
// backend, loaded from a Hugging Face safetensors checkpoint (a single `model.safetensors` or an
// index + shards) with BF16 or F32 tensors (BF16 widened exactly). Built once by
// LoadDenseWeights; immutable afterwards and safe to share across threads.
#ifndef R1_WORKER_MODEL_DENSE_WEIGHTS_H_
#define R1_WORKER_MODEL_DENSE_WEIGHTS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dense_model_config.h"
#include "common/safetensors.h"
#include "worker/model/model_weights.h"  // LinearWeight, FfnWeights

namespace r1 {

struct DenseLayerWeights {
  std::vector<float> input_norm, post_attention_norm;
  LinearWeight q, k, v, o;
  std::vector<float> q_bias, k_bias, v_bias;  // empty without qkv_bias
  std::vector<float> o_bias;                  // empty without o_bias
  FfnWeights mlp;
};

struct DenseWeights {
  DenseModelConfig config;
  std::vector<float> embed;  // [V][d]
  std::vector<float> final_norm;
  LinearWeight lm_head;  // empty with tie_word_embeddings: the embedding serves
  std::vector<DenseLayerWeights> layers;
  // [V][d] rows of the output projection.
  const float* lm_head_rows() const { return lm_head.empty() ? embed.data() : lm_head.w.data(); }
};

// Loads every tensor PlanDenseTensors names from `checkpoint`, checking dtype (BF16 or F32) and
// shape. Errors name the tensor and the file (or the index for a missing tensor).
absl::StatusOr<std::unique_ptr<DenseWeights>> LoadDenseWeights(const DenseModelConfig& config,
                                                               const Checkpoint& checkpoint);

// `dir`/config.json and the checkpoint in `dir`.
absl::StatusOr<std::unique_ptr<DenseWeights>> LoadDenseModelDir(const std::string& dir);

}  // namespace r1

#endif  // R1_WORKER_MODEL_DENSE_WEIGHTS_H_
