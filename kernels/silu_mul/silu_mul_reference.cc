#include "common/numeric.h"
#include "kernels/fp8_quant/fp8_quant.h"
#include "kernels/silu_mul/silu_mul.h"

namespace r1::kernels {

absl::Status ValidateSiluMul(const SiluMulParams& p) {
  if (p.rows < 0 || p.n <= 0 || p.x_stride < 2 * p.n || p.out_stride < p.n) {
    return absl::InvalidArgumentError("silu_mul: bad shape");
  }
  if (p.rows > 0 && (p.x == nullptr || p.out == nullptr)) {
    return absl::InvalidArgumentError("silu_mul: null pointer");
  }
  return absl::OkStatus();
}

absl::Status SiluMulReference(const SiluMulParams& p) {
  if (auto st = ValidateSiluMul(p); !st.ok()) return st;
  for (int64_t r = 0; r < p.rows; ++r) {
    const uint16_t* x = p.x + r * p.x_stride;
    for (int64_t c = 0; c < p.n; ++c) {
      p.out[r * p.out_stride + c] =
          FloatToBf16(SiluReference(Bf16ToFloat(x[c])) * Bf16ToFloat(x[p.n + c]));
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
