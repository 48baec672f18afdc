// Helpers for GPU tests that drive CudaModel directly (no Engine): build a model from a weight
// source, and read the logits of a token sequence as one prefill or token by token. Failures are
// reported as gtest failures of the calling test (and an empty result).
#ifndef R1_WORKER_BACKEND_TESTING_GPU_MODEL_UTIL_H_
#define R1_WORKER_BACKEND_TESTING_GPU_MODEL_UTIL_H_

#include <memory>
#include <vector>

#include "common/model_config.h"
#include "worker/backend/cuda_model.h"
#include "worker/model/weight_source.h"

namespace r1::testing {

// A CudaModel with every routed expert of `c` loaded from `src` and a cache of `kv_blocks`
// blocks; null on failure.
std::unique_ptr<CudaModel> MakeGpuModel(const ModelConfig& c, const WeightSource& src,
                                        int kv_blocks, CudaModelOptions options = {});

// Logits [tokens][vocab] of every position of `tokens` from position 0 of a fresh sequence: one
// prefill, or one forward per token.
std::vector<float> GpuLogits(CudaModel& m, const std::vector<int>& tokens, bool token_by_token);

// Greedy continuations of every prompt, batched: one prefill step for all prompts, then one decode
// step for every unfinished sequence, until `eos` or `max_new` tokens. Ids at or past
// `valid_vocab` (untrained padding rows) are never chosen, as the Engine does. out[i] holds the
// generated ids of prompt i (the eos that ended it included).
std::vector<std::vector<int>> GpuGreedyBatch(CudaModel& m,
                                             const std::vector<std::vector<int>>& prompts,
                                             int max_new, int eos, int64_t valid_vocab);

}  // namespace r1::testing

#endif  // R1_WORKER_BACKEND_TESTING_GPU_MODEL_UTIL_H_
