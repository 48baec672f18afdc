// Deterministic pseudo-random fill of a weight tensor, the same bits on the CPU and the GPU, so
// that a full-size model can be made of synthetic weights directly in device memory:
//
//   element (r, c), r < rows, c < cols, of a row-major [rows][ld] tensor of `dtype`:
//     r < valid_rows and c < valid_cols:  encode( fma(amplitude, 2u − 1, offset) ),
//                                         u = SamplingUniform(seed, r, c) in (0, 1)
//     otherwise (padding):                 zero (all bits clear)
//   columns [cols, ld) are not touched.
//
// 2u − 1 is exact in float (u = (k + ½)·2⁻²³), and the fma rounds once, so the value is the same
// on both sides; encode is bf16 or e4m3fn with round-to-nearest-even (e4m3 saturating to ±448),
// or f32 as is. Values lie in [offset − |amplitude|, offset + |amplitude|] before encoding, with
// mean offset and variance amplitude²/3.
#ifndef R1_KERNELS_RANDOM_FILL_RANDOM_FILL_H_
#define R1_KERNELS_RANDOM_FILL_RANDOM_FILL_H_

#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/sampling/sampling.h"

namespace r1::kernels {

enum class FillDtype { kBf16, kF32, kE4m3 };

// Bytes per element of `d` (2, 4, 1); 0 for a value outside the enum.
constexpr int64_t FillDtypeBytes(FillDtype d) {
  switch (d) {
    case FillDtype::kBf16:
      return 2;
    case FillDtype::kF32:
      return 4;
    case FillDtype::kE4m3:
      return 1;
  }
  return 0;
}

struct RandomFillParams {
  void* out = nullptr;  // [rows][ld] elements of `dtype`, aligned to one element; not null
                        // (unless rows == 0)
  FillDtype dtype = FillDtype::kBf16;
  int64_t rows = 0;         // ≥ 0
  int64_t cols = 0;         // > 0, ≤ 2³² (the column is SamplingUniform's 32-bit index)
  int64_t ld = 0;           // ≥ cols (elements); rows·ld·bytes fits in int64
  int64_t valid_rows = -1;  // rows ≥ valid_rows are written as zero; −1 = rows; else in [0, rows]
  int64_t valid_cols = -1;  // columns ≥ valid_cols (and < cols) are written as zero; −1 = cols;
                            // else in [0, cols]
  uint64_t seed = 0;
  float amplitude = 1.0f;  // finite
  float offset = 0.0f;     // finite
};

// The value of element (r, c) before encoding (r < valid_rows, c < valid_cols).
R1_HOST_DEVICE inline float RandomFillValue(uint64_t seed, float amplitude, float offset, int64_t r,
                                            int64_t c) {
  const float s =
      2.0f * SamplingUniform(seed, static_cast<uint64_t>(r), static_cast<uint32_t>(c)) - 1.0f;
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(amplitude, s, offset);
#else
  return std::fma(amplitude, s, offset);
#endif
}

absl::Status ValidateRandomFill(const RandomFillParams& p);

// CPU reference; `out` is host memory.
absl::Status RandomFillReference(const RandomFillParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_RANDOM_FILL_RANDOM_FILL_H_
