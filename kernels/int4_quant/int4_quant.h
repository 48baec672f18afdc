// INT4 routed-expert weights (spec §13.3) and their load-time conversion from the FP8 checkpoint.
//
// Quantisation: symmetric, one BF16 scale per row and group of 128 input channels (K):
//   w      = e4m3(Q[n][k]) · S[n/128][k/128]                  (FP8 block dequantisation, fp32)
//   scale  = bf16(max_{k in group} |w| / 7)                     (0 when the group is all zero)
//   q      = clamp(rne(w / float(scale)), −8, 7)                (0 when scale is 0)
// and w ≈ q · scale.
//
// Scales are stored group-major, [k/128][n] (all rows of one K group contiguous), so the GEMM
// streams one group's scales with the weights of that group.
//
// Packed layout (this engine's own; the kernels rely on it): row n is K/2 bytes. Each 32-bit
// little-endian word holds 8 consecutive k values v0..v7 as offset-binary nibbles (v + 8, 0..15)
// in the order [v0 v2 v4 v6 v1 v3 v5 v7] (nibble 0 = bits 0..3). This lets the GEMM turn a word
// into four bf16 pairs (v0,v1) (v2,v3) (v4,v5) (v6,v7) with one mask-or and one bf16x2
// subtraction per pair.
#ifndef R1_KERNELS_INT4_QUANT_INT4_QUANT_H_
#define R1_KERNELS_INT4_QUANT_INT4_QUANT_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

inline constexpr int64_t kInt4Group = 128;

// Nibble index (0..7) inside its 32-bit word that holds value j (0..7) of the 8-value run.
constexpr int Int4NibbleOf(int j) { return (j % 2 == 0) ? j / 2 : 4 + j / 2; }

// Reads the signed value of element k of a packed row.
inline int Int4Get(const uint8_t* row, int64_t k) {
  const int64_t word = k / 8;
  const int nib = Int4NibbleOf(static_cast<int>(k % 8));
  const int byte = row[word * 4 + nib / 2];
  const int u = (nib % 2 == 0) ? (byte & 0xf) : (byte >> 4);
  return u - 8;
}

// Writes the signed value q (−8..7) of element k of a packed row.
inline void Int4Set(uint8_t* row, int64_t k, int q) {
  const int64_t word = k / 8;
  const int nib = Int4NibbleOf(static_cast<int>(k % 8));
  uint8_t& byte = row[word * 4 + nib / 2];
  const uint8_t u = static_cast<uint8_t>((q + 8) & 0xf);
  byte = (nib % 2 == 0) ? static_cast<uint8_t>((byte & 0xf0) | u)
                        : static_cast<uint8_t>((byte & 0x0f) | (u << 4));
}

struct Int4FromFp8Params {
  const uint8_t* w = nullptr;      // [n][k] e4m3fn, row-major; not null
  const float* w_scale = nullptr;  // [ceil(n/128)][w_scale_ld] f32 block scales; not null
  int64_t w_scale_ld = 0;          // ≥ k/128
  uint8_t* out = nullptr;          // [n][k/2] packed int4 (layout above); not null
  uint16_t* out_scale = nullptr;   // [k/128][n] bf16 (group-major); not null
  int64_t n = 0;                   // > 0
  int64_t k = 0;                   // > 0, multiple of 128
};

absl::Status ValidateInt4FromFp8(const Int4FromFp8Params& p);

// CPU reference; pointers are host memory.
absl::Status Int4FromFp8Reference(const Int4FromFp8Params& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_INT4_QUANT_INT4_QUANT_H_
