#include "worker/engine/speculative_sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/sampling/sampling.h"

namespace r1 {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

absl::Status CheckDistribution(const float* row, int64_t vocab, const char* what, size_t j) {
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    if (!std::isfinite(row[v]) || row[v] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " row ", j, ": probability of id ", v, " is ", row[v]));
    }
    sum += row[v];
  }
  if (sum <= 0) return absl::InvalidArgumentError(absl::StrCat(what, " row ", j, " sums to 0"));
  return absl::OkStatus();
}

// Draws an id from the unnormalised weights w (sum > 0) with the uniform u.
int DrawFrom(const std::vector<double>& w, double u) {
  double sum = 0;
  for (double x : w) sum += x;
  const double target = u * sum;
  double acc = 0;
  int last = 0;
  for (size_t v = 0; v < w.size(); ++v) {
    if (w[v] <= 0) continue;
    acc += w[v];
    last = static_cast<int>(v);
    if (target < acc) return last;
  }
  return last;  // rounding: the last id with weight
}

}  // namespace

double SpeculativeUniform(uint64_t seed, uint64_t offset, uint64_t purpose) {
  const uint64_t h = SplitMix64(SplitMix64(SplitMix64(seed) ^ offset) ^ (purpose + 1));
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

void SamplingDistribution(const float* logits, int64_t vocab, float temperature, int32_t top_k,
                          float top_p, std::vector<float>* p) {
  // Mirrors kernels/sampling's reference step for step (its order key, candidate cap, float sums)
  // so the kept set is the one the draw would race over.
  std::vector<float> z(vocab);
  std::vector<uint32_t> key(vocab);
  for (int64_t i = 0; i < vocab; ++i) {
    z[i] = logits[i] / temperature;
    key[i] = kernels::SamplingKey(z[i]);
  }
  std::vector<int32_t> idx(vocab);
  std::iota(idx.begin(), idx.end(), 0);
  const int64_t ncand = std::min<int64_t>(vocab, kernels::kSamplingMaxCandidates);
  std::partial_sort(idx.begin(), idx.begin() + ncand, idx.end(), [&](int32_t a, int32_t b) {
    return key[a] != key[b] ? key[a] > key[b] : a < b;
  });
  int64_t kept = ncand;
  if (top_k > 0) kept = std::min<int64_t>(kept, top_k);
  if (top_p < 1.0f) {
    std::vector<float> e(kept);
    float total = 0.0f;
    for (int64_t j = 0; j < kept; ++j) total += (e[j] = std::exp(z[idx[j]] - z[idx[0]]));
    const float target = top_p * total;
    float run = 0.0f;
    for (int64_t j = 0; j < kept; ++j) {
      run += e[j];
      if (run >= target) {
        kept = j + 1;
        break;
      }
    }
  }
  p->assign(vocab, 0.0f);
  double sum = 0;
  std::vector<double> w(kept);
  for (int64_t j = 0; j < kept; ++j) {
    w[j] = std::exp(static_cast<double>(z[idx[j]]) - static_cast<double>(z[idx[0]]));
    if (!std::isfinite(w[j])) w[j] = 0;
    sum += w[j];
  }
  if (!(sum > 0)) {  // every kept logit −inf or NaN: the draw falls back to the first candidate
    (*p)[idx[0]] = 1.0f;
    return;
  }
  for (int64_t j = 0; j < kept; ++j) (*p)[idx[j]] = static_cast<float>(w[j] / sum);
}

absl::StatusOr<SpeculativeResult> VerifyGreedy(const std::vector<int>& drafts,
                                               const std::vector<int>& target) {
  if (target.size() != drafts.size() + 1) {
    return absl::InvalidArgumentError(absl::StrCat("greedy verification: ", drafts.size(),
                                                   " drafts need ", drafts.size() + 1,
                                                   " target choices, got ", target.size()));
  }
  SpeculativeResult r;
  while (r.accepted < static_cast<int>(drafts.size()) && drafts[r.accepted] == target[r.accepted]) {
    r.tokens.push_back(drafts[r.accepted]);
    ++r.accepted;
  }
  r.tokens.push_back(target[r.accepted]);
  return r;
}

absl::StatusOr<SpeculativeResult> VerifyStochastic(const std::vector<int>& drafts,
                                                   const std::vector<float>& p,
                                                   const std::vector<float>& q, int64_t vocab,
                                                   uint64_t seed, uint64_t offset) {
  const size_t k = drafts.size();
  if (vocab <= 0 || p.size() != (k + 1) * vocab || q.size() != k * vocab) {
    return absl::InvalidArgumentError(absl::StrCat("stochastic verification: ", k,
                                                   " drafts need p of ", (k + 1) * vocab,
                                                   " and q of ", k * vocab, " values"));
  }
  for (size_t j = 0; j <= k; ++j) {
    if (auto st = CheckDistribution(&p[j * vocab], vocab, "target", j); !st.ok()) return st;
    if (j == k) break;
    if (auto st = CheckDistribution(&q[j * vocab], vocab, "draft", j); !st.ok()) return st;
    if (drafts[j] < 0 || drafts[j] >= vocab || q[j * vocab + drafts[j]] <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("draft ", j, ": id ", drafts[j], " out of range or of draft probability 0"));
    }
  }
  SpeculativeResult r;
  std::vector<double> w(vocab);
  for (size_t j = 0; j < k; ++j) {
    const float* pj = &p[j * vocab];
    const float* qj = &q[j * vocab];
    // Normalise both rows (they may be off by rounding) before comparing.
    double ps = 0, qs = 0;
    for (int64_t v = 0; v < vocab; ++v) ps += pj[v], qs += qj[v];
    const int d = drafts[j];
    const double ratio = (pj[d] / ps) / (qj[d] / qs);
    if (SpeculativeUniform(seed, offset + j, 0) < ratio) {
      r.tokens.push_back(d);
      ++r.accepted;
      continue;
    }
    double residual = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      w[v] = std::max(pj[v] / ps - qj[v] / qs, 0.0);
      residual += w[v];
    }
    if (residual <= 0) {  // p == q up to rounding: the rejection had probability ~0; draw from p
      for (int64_t v = 0; v < vocab; ++v) w[v] = pj[v];
    }
    r.tokens.push_back(DrawFrom(w, SpeculativeUniform(seed, offset + j, 1)));
    return r;
  }
  const float* pk = &p[k * vocab];
  for (int64_t v = 0; v < vocab; ++v) w[v] = pk[v];
  r.tokens.push_back(DrawFrom(w, SpeculativeUniform(seed, offset + k, 1)));
  return r;
}

}  // namespace r1
