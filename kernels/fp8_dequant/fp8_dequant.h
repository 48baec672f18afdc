// FP8 block dequantisation (spec §3.4): W[i][j] = e4m3(Q[i][j]) × S[i/128][j/128], written as BF16.
// Used at load time (BF16 copies of kv_b_proj for absorbed MLA, INT4 conversion) and as the
// simplest end-to-end check of the CUDA build.
#ifndef R1_KERNELS_FP8_DEQUANT_FP8_DEQUANT_H_
#define R1_KERNELS_FP8_DEQUANT_FP8_DEQUANT_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct Fp8DequantParams {
  const uint8_t* weight = nullptr;  // [rows][cols] e4m3fn, row-major; not null
  const float* scale = nullptr;     // [ceil(rows/128)][ceil(cols/128)] f32, row-major; not null
  uint16_t* out = nullptr;          // [rows][cols] bf16 bits, row-major; not null
  int64_t rows = 0;                 // > 0
  int64_t cols = 0;                 // > 0
};

// Checks shapes and pointers (shared by both implementations).
absl::Status ValidateFp8Dequant(const Fp8DequantParams& p);

// CPU reference; pointers are host memory.
absl::Status Fp8DequantReference(const Fp8DequantParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_FP8_DEQUANT_FP8_DEQUANT_H_
