#include "worker/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace r1 {

absl::Status ValidateSamplingParams(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f && p.temperature <= 100.0f)) {
    return absl::InvalidArgumentError("temperature must be in [0, 100]");
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    return absl::InvalidArgumentError("top_p must be in (0, 1]");
  if (p.top_k < 0) return absl::InvalidArgumentError("top_k must be >= 0");
  return absl::OkStatus();
}

int Sampler::Sample(const float* logits, int64_t vocab, int64_t valid_vocab,
                    const SamplingParams& p) {
  const int64_t n = std::clamp<int64_t>(valid_vocab, 1, vocab);
  if (p.temperature == 0.0f) {
    return static_cast<int>(std::max_element(logits, logits + n) - logits);
  }
  std::vector<int> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  int64_t keep = n;
  if (p.top_k > 0 && p.top_k < n) keep = p.top_k;
  std::partial_sort(ids.begin(), ids.begin() + keep, ids.end(), [&](int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  ids.resize(keep);
  std::vector<double> prob(keep);
  const double inv_t = 1.0 / p.temperature;
  const double mx = logits[ids[0]];
  double sum = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    prob[i] = std::exp((logits[ids[i]] - mx) * inv_t);
    sum += prob[i];
  }
  // Nucleus: the shortest prefix (in descending probability) whose mass reaches top_p.
  int64_t cut = keep;
  if (p.top_p < 1.0f) {
    double acc = 0.0;
    for (int64_t i = 0; i < keep; ++i) {
      acc += prob[i] / sum;
      if (acc >= p.top_p) {
        cut = i + 1;
        break;
      }
    }
  }
  double mass = 0.0;
  for (int64_t i = 0; i < cut; ++i) mass += prob[i];
  const double u = std::uniform_real_distribution<double>(0.0, mass)(rng_);
  double acc = 0.0;
  for (int64_t i = 0; i < cut; ++i) {
    acc += prob[i];
    if (u < acc) return ids[i];
  }
  return ids[cut - 1];
}

}  // namespace r1
