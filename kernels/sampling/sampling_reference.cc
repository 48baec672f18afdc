#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/sampling/sampling.h"

namespace r1::kernels {

absl::Status ValidateSampling(const SamplingParams& p) {
  if (p.rows < 0 || p.vocab <= 0 || p.vocab >= (int64_t{1} << 31) || p.logits_stride < p.vocab) {
    return absl::InvalidArgumentError("sampling: bad shape");
  }
  if (p.rows > 0 && (p.logits == nullptr || p.temperature == nullptr || p.seed == nullptr ||
                     p.offset == nullptr || p.out == nullptr)) {
    return absl::InvalidArgumentError("sampling: null pointer");
  }
  return absl::OkStatus();
}

absl::Status SamplingReference(const SamplingParams& p) {
  if (auto st = ValidateSampling(p); !st.ok()) return st;
  std::vector<float> z(p.vocab);
  std::vector<uint32_t> key(p.vocab);
  std::vector<int32_t> idx(p.vocab);
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* logits = p.logits + r * p.logits_stride;
    const float t = p.temperature[r];
    if (!(t > 0.0f)) {  // greedy
      int32_t best = 0;
      uint32_t best_key = SamplingKey(logits[0]);
      for (int64_t i = 1; i < p.vocab; ++i) {
        const uint32_t k = SamplingKey(logits[i]);
        if (k > best_key) best_key = k, best = static_cast<int32_t>(i);
      }
      p.out[r] = best;
      continue;
    }
    for (int64_t i = 0; i < p.vocab; ++i) {
      z[i] = logits[i] / t;
      key[i] = SamplingKey(z[i]);
    }
    std::iota(idx.begin(), idx.end(), 0);
    const int64_t ncand = std::min<int64_t>(p.vocab, kSamplingMaxCandidates);
    std::partial_sort(idx.begin(), idx.begin() + ncand, idx.end(), [&](int32_t a, int32_t b) {
      return key[a] != key[b] ? key[a] > key[b] : a < b;
    });
    int64_t kept = ncand;
    if (p.top_k && p.top_k[r] > 0) kept = std::min<int64_t>(kept, p.top_k[r]);
    if (p.top_p && p.top_p[r] < 1.0f) {
      std::vector<float> e(kept);
      float total = 0.0f;
      for (int64_t j = 0; j < kept; ++j) total += (e[j] = std::exp(z[idx[j]] - z[idx[0]]));
      const float target = p.top_p[r] * total;
      float run = 0.0f;
      int64_t cut = kept;
      for (int64_t j = 0; j < kept; ++j) {
        run += e[j];
        if (run >= target) {
          cut = j + 1;
          break;
        }
      }
      kept = cut;
    }
    int64_t best = 0;
    float best_score = -INFINITY;
    for (int64_t j = 0; j < kept; ++j) {
      const float u = SamplingUniform(p.seed[r], p.offset[r], static_cast<uint32_t>(idx[j]));
      const float score = z[idx[j]] - std::log(-std::log(u));
      if (score > best_score) best_score = score, best = j;
    }
    p.out[r] = idx[best];
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
