// A sequence's sampling parameters as the engine receives them (DESIGN §7): the draw
// (temperature, top-k, top-p, seed), penalties, logit_bias and logprobs. The engine turns them
// into a TokenChoiceSpec each step (worker/model/token_choice.h), whose semantics every backend
// shares.
#ifndef R1_WORKER_ENGINE_SAMPLING_PARAMS_H_
#define R1_WORKER_ENGINE_SAMPLING_PARAMS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace r1 {

struct SamplingParams {
  float temperature = 0.0f;         // 0 = greedy; [0, 100]
  float top_p = 1.0f;               // (0, 1]
  int top_k = 0;                    // 0 = off
  uint64_t seed = 0;                // with the position, the replay key of each draw
  float presence_penalty = 0.0f;    // [-2, 2], OpenAI; over output tokens
  float frequency_penalty = 0.0f;   // [-2, 2], OpenAI; over output tokens
  float repetition_penalty = 1.0f;  // (0, 2], Hugging Face; over prompt and output tokens
  std::vector<std::pair<int32_t, float>> logit_bias;  // (id < vocab, bias in [-100, 100])
  bool logprobs = false;                              // report each token's logprob
  int top_logprobs = 0;                               // and this many alternatives, 0..20
};

// InvalidArgument naming the field for values outside the ranges above; ids are checked
// against `vocab`.
absl::Status ValidateSamplingParams(const SamplingParams& p, int64_t vocab);

}  // namespace r1

#endif  // R1_WORKER_ENGINE_SAMPLING_PARAMS_H_
