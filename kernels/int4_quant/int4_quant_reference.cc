#include <algorithm>
#include <cmath>

#include "common/numeric.h"
#include "kernels/int4_quant/int4_quant.h"

namespace r1::kernels {

absl::Status ValidateInt4FromFp8(const Int4FromFp8Params& p) {
  if (p.w == nullptr || p.w_scale == nullptr || p.out == nullptr || p.out_scale == nullptr) {
    return absl::InvalidArgumentError("int4_from_fp8: null pointer");
  }
  if (p.n <= 0 || p.k <= 0 || p.k % kInt4Group != 0) {
    return absl::InvalidArgumentError("int4_from_fp8: need n > 0 and k a positive multiple of 128");
  }
  if (p.w_scale_ld < p.k / 128) return absl::InvalidArgumentError("int4_from_fp8: w_scale_ld");
  return absl::OkStatus();
}

absl::Status Int4FromFp8Reference(const Int4FromFp8Params& p) {
  if (auto st = ValidateInt4FromFp8(p); !st.ok()) return st;
  const int64_t groups = p.k / kInt4Group;
  float w[kInt4Group];
  for (int64_t n = 0; n < p.n; ++n) {
    uint8_t* row = p.out + n * (p.k / 2);
    for (int64_t g = 0; g < groups; ++g) {
      const float bs = p.w_scale[(n / 128) * p.w_scale_ld + g];
      float amax = 0.0f;
      for (int64_t i = 0; i < kInt4Group; ++i) {
        w[i] = Fp8E4m3ToFloat(p.w[n * p.k + g * kInt4Group + i]) * bs;
        amax = std::max(amax, std::fabs(w[i]));
      }
      const uint16_t sb = FloatToBf16(amax / 7.0f);
      const float s = Bf16ToFloat(sb);
      p.out_scale[g * p.n + n] = sb;
      for (int64_t i = 0; i < kInt4Group; ++i) {
        int q = 0;
        if (s != 0.0f) q = static_cast<int>(std::clamp(std::nearbyint(w[i] / s), -8.0f, 7.0f));
        Int4Set(row, g * kInt4Group + i, q);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
