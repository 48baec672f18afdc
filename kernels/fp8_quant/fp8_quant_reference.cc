#include <algorithm>
#include <cmath>

#include "common/numeric.h"
#include "kernels/fp8_quant/fp8_quant.h"

namespace r1::kernels {

absl::Status ValidateFp8Quant(const Fp8QuantParams& p) {
  if (p.rows < 0) return absl::InvalidArgumentError("fp8_quant: rows < 0");
  if (p.cols <= 0 || p.cols % kFp8QuantGroup != 0) {
    return absl::InvalidArgumentError("fp8_quant: cols must be a positive multiple of 128");
  }
  if (p.rows == 0) return absl::OkStatus();
  if (p.x == nullptr || p.out == nullptr || p.scale == nullptr) {
    return absl::InvalidArgumentError("fp8_quant: null pointer");
  }
  if (p.x_stride < p.cols * (p.silu_mul ? 2 : 1)) {
    return absl::InvalidArgumentError("fp8_quant: x_stride too small");
  }
  if (p.scale_row_stride <= 0 || p.scale_group_stride <= 0) {
    return absl::InvalidArgumentError("fp8_quant: scale strides must be positive");
  }
  return absl::OkStatus();
}

float SiluReference(float z) { return z / (1.0f + std::exp(-z)); }

absl::Status Fp8QuantReference(const Fp8QuantParams& p) {
  if (auto st = ValidateFp8Quant(p); !st.ok()) return st;
  const int64_t groups = p.cols / kFp8QuantGroup;
  float v[kFp8QuantGroup];
  for (int64_t r = 0; r < p.rows; ++r) {
    const uint16_t* x = p.x + r * p.x_stride;
    for (int64_t g = 0; g < groups; ++g) {
      float amax = 0.0f;
      for (int64_t i = 0; i < kFp8QuantGroup; ++i) {
        const int64_t c = g * kFp8QuantGroup + i;
        v[i] = p.silu_mul ? SiluReference(Bf16ToFloat(x[c])) * Bf16ToFloat(x[p.cols + c])
                          : Bf16ToFloat(x[c]);
        amax = std::max(amax, std::fabs(v[i]));
      }
      const float s = std::max(amax, kFp8AmaxFloor) / kFp8E4m3Max;
      for (int64_t i = 0; i < kFp8QuantGroup; ++i) {
        p.out[r * p.cols + g * kFp8QuantGroup + i] = FloatToFp8E4m3(v[i] / s);
      }
      p.scale[r * p.scale_row_stride + g * p.scale_group_stride] = s;
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
