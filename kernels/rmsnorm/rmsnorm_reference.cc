#include <cmath>
#include <vector>

#include "common/numeric.h"
#include "kernels/rmsnorm/rmsnorm.h"

namespace r1::kernels {

absl::Status ValidateRmsNorm(const RmsNormParams& p) {
  if (p.rows < 0 || p.n <= 0) return absl::InvalidArgumentError("rmsnorm: bad shape");
  if (p.rows == 0) return absl::OkStatus();
  if (p.x == nullptr || p.weight == nullptr || p.out == nullptr) {
    return absl::InvalidArgumentError("rmsnorm: null pointer");
  }
  if (p.x_stride < p.n || p.out_stride < p.n || (p.residual && p.residual_stride < p.n)) {
    return absl::InvalidArgumentError("rmsnorm: stride < n");
  }
  if (!(p.eps >= 0)) return absl::InvalidArgumentError("rmsnorm: eps < 0");
  return absl::OkStatus();
}

absl::Status RmsNormReference(const RmsNormParams& p) {
  if (auto st = ValidateRmsNorm(p); !st.ok()) return st;
  std::vector<float> h(p.n);
  for (int64_t r = 0; r < p.rows; ++r) {
    const uint16_t* x = p.x + r * p.x_stride;
    float ss = 0.0f;
    for (int64_t i = 0; i < p.n; ++i) {
      float v = Bf16ToFloat(x[i]);
      if (p.residual) {
        uint16_t* res = p.residual + r * p.residual_stride;
        v = RoundToBf16(v + Bf16ToFloat(res[i]));
        res[i] = FloatToBf16(v);
      }
      h[i] = v;
      ss += v * v;
    }
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(p.n) + p.eps);
    uint16_t* out = p.out + r * p.out_stride;
    for (int64_t i = 0; i < p.n; ++i) out[i] = FloatToBf16(Bf16ToFloat(p.weight[i]) * (h[i] * inv));
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
