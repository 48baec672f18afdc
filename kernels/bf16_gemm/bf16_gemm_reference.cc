#include <vector>

#include "common/numeric.h"
#include "kernels/bf16_gemm/bf16_gemm.h"

namespace r1::kernels {

absl::Status ValidateBf16Gemm(const Bf16GemmParams& p) {
  if (p.m < 0 || p.n <= 0 || p.k <= 0 || p.x_ld < p.k || p.w_ld < p.k || p.out_ld < p.n) {
    return absl::InvalidArgumentError("bf16_gemm: bad shape");
  }
  if (p.x == nullptr || p.w == nullptr)
    return absl::InvalidArgumentError("bf16_gemm: null pointer");
  if ((p.out_bf16 == nullptr) == (p.out_f32 == nullptr)) {
    return absl::InvalidArgumentError("bf16_gemm: exactly one of out_bf16 / out_f32 must be set");
  }
  return absl::OkStatus();
}

absl::Status Bf16GemmReference(const Bf16GemmParams& p) {
  if (auto st = ValidateBf16Gemm(p); !st.ok()) return st;
  std::vector<float> xf(p.k);
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t c = 0; c < p.k; ++c) xf[c] = Bf16ToFloat(p.x[i * p.x_ld + c]);
    for (int64_t j = 0; j < p.n; ++j) {
      float acc = 0.0f;
      for (int64_t c = 0; c < p.k; ++c) acc += xf[c] * Bf16ToFloat(p.w[j * p.w_ld + c]);
      if (p.out_f32) {
        p.out_f32[i * p.out_ld + j] = acc;
      } else {
        p.out_bf16[i * p.out_ld + j] = FloatToBf16(acc);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
