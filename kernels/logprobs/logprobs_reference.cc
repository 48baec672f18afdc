#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/logprobs/logprobs.h"
#include "kernels/sampling/sampling.h"

namespace r1::kernels {

absl::Status ValidateLogprobs(const LogprobsParams& p) {
  if (p.rows < 0 || p.vocab <= 0 || p.vocab >= (int64_t{1} << 31) || p.logits_stride < p.vocab) {
    return absl::InvalidArgumentError("logprobs: bad shape");
  }
  if (p.top_n < 0 || p.top_n > kLogprobsMaxTopN || p.top_n > p.vocab) {
    return absl::InvalidArgumentError("logprobs: top_n not in [0, min(20, vocab)]");
  }
  if (p.rows == 0) return absl::OkStatus();
  if (p.logits == nullptr || p.chosen == nullptr || p.out_chosen_logprob == nullptr) {
    return absl::InvalidArgumentError("logprobs: null pointer");
  }
  if (p.top_n > 0 && (p.out_top_ids == nullptr || p.out_top_logprobs == nullptr)) {
    return absl::InvalidArgumentError("logprobs: top_n > 0 without top outputs");
  }
  return absl::OkStatus();
}

absl::Status LogprobsReference(const LogprobsParams& p) {
  if (auto st = ValidateLogprobs(p); !st.ok()) return st;
  for (int64_t r = 0; r < p.rows; ++r) {
    if (p.chosen[r] < 0 || p.chosen[r] >= p.vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("logprobs: chosen id ", p.chosen[r], " of row ", r, " out of range"));
    }
  }
  // (key << 32) | ~id: larger is more likely; unique per id.
  std::vector<uint64_t> order(p.vocab);
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* logits = p.logits + r * p.logits_stride;
    float m = -INFINITY;
    for (int64_t i = 0; i < p.vocab; ++i) m = logits[i] > m ? logits[i] : m;  // NaN ignored
    double lse = NAN;
    if (std::isfinite(m)) {
      double sum = 0.0;
      for (int64_t i = 0; i < p.vocab; ++i) {
        if (logits[i] > -INFINITY) sum += std::exp(static_cast<double>(logits[i]) - m);
      }
      lse = m + std::log(sum);
    }
    auto logprob = [&](int64_t id) {
      const float x = std::isnan(logits[id]) ? -INFINITY : logits[id];
      return static_cast<float>(static_cast<double>(x) - lse);
    };
    p.out_chosen_logprob[r] = logprob(p.chosen[r]);
    if (p.top_n == 0) continue;
    for (int64_t i = 0; i < p.vocab; ++i) {
      order[i] = (static_cast<uint64_t>(SamplingKey(logits[i])) << 32) |
                 (0xffffffffu - static_cast<uint32_t>(i));
    }
    std::partial_sort(order.begin(), order.begin() + p.top_n, order.end(),
                      [](uint64_t a, uint64_t b) { return a > b; });
    for (int32_t j = 0; j < p.top_n; ++j) {
      const int32_t id = static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(order[j]));
      p.out_top_ids[r * p.top_n + j] = id;
      p.out_top_logprobs[r * p.top_n + j] = logprob(id);
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
