// Token sampling from one row of logits (spec §14): greedy when temperature is 0, else
// temperature → top-k → softmax → top-p → a draw from the sequence's own seeded generator.
// Logits at ids ≥ valid_vocab (untrained padding rows, spec §8) are never chosen.
// A Sampler belongs to one sequence; not thread-safe.
#ifndef R1_WORKER_ENGINE_SAMPLER_H_
#define R1_WORKER_ENGINE_SAMPLER_H_

#include <cstdint>
#include <random>

#include "absl/status/status.h"

namespace r1 {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy; must be in [0, 100]
  float top_p = 1.0f;        // (0, 1]
  int top_k = 0;             // 0 = off
  uint64_t seed = 0;
};

absl::Status ValidateSamplingParams(const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(uint64_t seed) : rng_(seed) {}
  // `logits` has `vocab` entries; only [0, valid_vocab) may be sampled.
  int Sample(const float* logits, int64_t vocab, int64_t valid_vocab, const SamplingParams& p);

 private:
  std::mt19937_64 rng_;
};

}  // namespace r1

#endif  // R1_WORKER_ENGINE_SAMPLER_H_
