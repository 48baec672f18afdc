// RMSNorm with optional fused residual add (spec §5), fp32 math, one bf16 rounding at the end:
//
//   h      = residual ? bf16(x + residual) : x        (the residual stream is kept in bf16)
//   residual ← h                                      (when residual is set)
//   out    = bf16( γ · h / sqrt(mean(h²) + eps) )
//
// Used for every norm of the model (7168-wide layer norms, q_a_layernorm 1536, kv_a_layernorm on
// the first 512 of 576 values — hence the explicit row strides).
#ifndef R1_KERNELS_RMSNORM_RMSNORM_H_
#define R1_KERNELS_RMSNORM_RMSNORM_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct RmsNormParams {
  const uint16_t* x = nullptr;   // bf16, row r at x + r·x_stride, n values; not null
  int64_t x_stride = 0;          // ≥ n
  uint16_t* residual = nullptr;  // bf16, row r at residual + r·residual_stride; nullable (in/out)
  int64_t residual_stride = 0;   // ≥ n when residual is set
  const uint16_t* weight = nullptr;  // [n] bf16 γ; not null
  uint16_t* out = nullptr;           // bf16, row r at out + r·out_stride; not null (may equal x)
  int64_t out_stride = 0;            // ≥ n
  int64_t rows = 0;                  // ≥ 0
  int64_t n = 0;                     // > 0 (the CUDA kernel needs n % 8 == 0)
  float eps = 1e-6f;
};

absl::Status ValidateRmsNorm(const RmsNormParams& p);

// CPU reference; pointers are host memory.
absl::Status RmsNormReference(const RmsNormParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_RMSNORM_RMSNORM_H_
