// SwiGLU activation (spec §5) to bf16: out[r][c] = bf16( SiLU(gate[r][c]) · up[r][c] ), fp32 math,
// with the row holding [gate (n) | up (n)] — the layout of a fused gate+up projection. The FP8
// path fuses this with quantisation instead (kernels/fp8_quant, silu_mul = true); this op feeds
// bf16 consumers (the INT4 W4A16 down projection, BF16 GEMMs).
#ifndef R1_KERNELS_SILU_MUL_SILU_MUL_H_
#define R1_KERNELS_SILU_MUL_SILU_MUL_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct SiluMulParams {
  const uint16_t* x = nullptr;  // bf16, row r at x + r·x_stride: [gate (n) | up (n)]; not null
  int64_t x_stride = 0;         // ≥ 2n
  uint16_t* out = nullptr;      // bf16, row r at out + r·out_stride, n values; not null
  int64_t out_stride = 0;       // ≥ n
  int64_t rows = 0;             // ≥ 0
  int64_t n = 0;                // > 0 (the CUDA kernel needs n % 8 == 0)
};

absl::Status ValidateSiluMul(const SiluMulParams& p);
absl::Status SiluMulReference(const SiluMulParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_SILU_MUL_SILU_MUL_H_
