// FP8 per-token, per-128-channel activation quantisation (spec §9), optionally fused with the
// SwiGLU activation SiLU(gate)·up (spec §5), so the FFN's down projection reads FP8 directly.
//
//   v      = x[r][c]                           (plain)
//          = SiLU(x[r][c]) · x[r][cols + c]     (silu_mul: row = [gate | up], fp32 math)
//   amax   = max(max_{c in group} |v|, 1e-4)    (fp32)
//   s      = amax / 448
//   out    = e4m3(v / s)                        (round-to-nearest-even, saturating to ±448)
//   scale  = s                                  (the dequantisation scale: v ≈ e4m3 · s)
//
// The scale tensor's layout is given by two strides so the same op feeds both consumers:
// spec §9's token-major [rows][cols/128] (row stride cols/128, group stride 1) and the
// group-major [cols/128][ld] layout that cuBLASLt's VEC128 mode and the grouped expert GEMM read
// (row stride 1, group stride ld ≥ rows); see Fp8GemmActScaleLd() in kernels/fp8_gemm.
#ifndef R1_KERNELS_FP8_QUANT_FP8_QUANT_H_
#define R1_KERNELS_FP8_QUANT_FP8_QUANT_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

inline constexpr float kFp8E4m3Max = 448.0f;
inline constexpr float kFp8AmaxFloor = 1e-4f;
inline constexpr int64_t kFp8QuantGroup = 128;

struct Fp8QuantParams {
  // bf16 bits; row r starts at x + r·x_stride and holds `cols` values (plain) or 2·cols values
  // [gate | up] (silu_mul). Not null when rows > 0.
  const uint16_t* x = nullptr;
  int64_t x_stride = 0;    // elements between rows; ≥ cols (≥ 2·cols with silu_mul)
  uint8_t* out = nullptr;  // [rows][cols] e4m3fn, row-major (row stride cols); not null
  // f32 scale of (row r, group g) at scale[r·scale_row_stride + g·scale_group_stride]; not null.
  float* scale = nullptr;
  int64_t scale_row_stride = 1;    // > 0
  int64_t scale_group_stride = 0;  // > 0
  int64_t rows = 0;                // ≥ 0; 0 is a no-op
  int64_t cols = 0;                // > 0, multiple of 128
  bool silu_mul = false;           // quantise SiLU(gate)·up instead of x
};

// Group-major scales [cols/128][ld] (row stride 1, group stride ld): what the FP8 GEMMs read.
inline void SetGroupMajorScales(Fp8QuantParams& p, int64_t ld) {
  p.scale_row_stride = 1;
  p.scale_group_stride = ld;
}

// Token-major scales [rows][cols/128] (spec §9's act_quant layout).
inline void SetTokenMajorScales(Fp8QuantParams& p) {
  p.scale_row_stride = p.cols / kFp8QuantGroup;
  p.scale_group_stride = 1;
}

absl::Status ValidateFp8Quant(const Fp8QuantParams& p);

// CPU reference; pointers are host memory.
absl::Status Fp8QuantReference(const Fp8QuantParams& p);

// SiLU(z) = z·sigmoid(z) in fp32, as both implementations compute it.
float SiluReference(float z);

}  // namespace r1::kernels

#endif  // R1_KERNELS_FP8_QUANT_FP8_QUANT_H_
