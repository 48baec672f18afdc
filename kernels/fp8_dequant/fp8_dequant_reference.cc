#include "kernels/fp8_dequant/fp8_dequant.h"

#include "common/numeric.h"

namespace r1::kernels {

absl::Status ValidateFp8Dequant(const Fp8DequantParams& p) {
  if (p.weight == nullptr || p.scale == nullptr || p.out == nullptr) {
    return absl::InvalidArgumentError("fp8_dequant: null pointer");
  }
  if (p.rows <= 0 || p.cols <= 0) return absl::InvalidArgumentError("fp8_dequant: empty shape");
  return absl::OkStatus();
}

absl::Status Fp8DequantReference(const Fp8DequantParams& p) {
  if (auto st = ValidateFp8Dequant(p); !st.ok()) return st;
  const int64_t scale_cols = (p.cols + 127) / 128;
  for (int64_t i = 0; i < p.rows; ++i) {
    for (int64_t j = 0; j < p.cols; ++j) {
      float w =
          Fp8E4m3ToFloat(p.weight[i * p.cols + j]) * p.scale[(i / 128) * scale_cols + j / 128];
      p.out[i * p.cols + j] = FloatToBf16(w);
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
