// Element-wise check of a bf16 GEMM result against its reference (host only): every value within
// 1% of the reference plus 0.1% of the reference's RMS (absorbs fp32 summation-order differences
// that flip a bf16 rounding, and cancellation), and no NaN/Inf — except values bit-identical to
// the reference (e.g. poison the kernel must leave untouched in padding or unassigned rows).
#ifndef R1_KERNELS_INTERNAL_GEMM_CHECK_H_
#define R1_KERNELS_INTERNAL_GEMM_CHECK_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/numeric.h"

namespace r1::kernels::testing {

struct GemmCheck {
  int64_t bad = 0;
  int64_t first_bad = -1;
  double max_rel = 0;
  double max_abs_over_rms = 0;  // largest |got - want| over the reference's RMS
  std::string Describe() const {
    return "bad=" + std::to_string(bad) + " first_bad=" + std::to_string(first_bad) +
           " max_rel=" + std::to_string(max_rel) +
           " max_abs/rms=" + std::to_string(max_abs_over_rms);
  }
};

inline GemmCheck CheckBf16Close(const std::vector<uint16_t>& got, const std::vector<uint16_t>& want,
                                double rel = 1e-2, double rms_frac = 1e-3) {
  double ss = 0;
  size_t finite = 0;
  for (uint16_t w : want) {
    const double v = Bf16ToFloat(w);
    if (std::isfinite(v)) ss += v * v, ++finite;
  }
  const double rms = finite == 0 ? 0 : std::sqrt(ss / finite);
  GemmCheck c;
  if (got.size() != want.size()) c.bad = 1;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (got[i] == want[i]) continue;
    const double g = Bf16ToFloat(got[i]), w = Bf16ToFloat(want[i]);
    const double d = std::fabs(g - w);
    if (!std::isfinite(g) || d > rel * std::fabs(w) + rms_frac * rms) {
      if (c.bad++ == 0) c.first_bad = static_cast<int64_t>(i);
    }
    if (std::fabs(w) > rms * 1e-2) c.max_rel = std::max(c.max_rel, d / std::fabs(w));
    if (rms > 0 && std::isfinite(d)) c.max_abs_over_rms = std::max(c.max_abs_over_rms, d / rms);
  }
  return c;
}

}  // namespace r1::kernels::testing

#endif  // R1_KERNELS_INTERNAL_GEMM_CHECK_H_
