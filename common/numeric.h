// Exact scalar conversions for the checkpoint's number formats (spec §3.3):
// float8 e4m3fn (no infinities, NaN = 0x7F/0xFF, max 448) and bfloat16.
// All functions are pure and thread-safe.
#ifndef R1_COMMON_NUMERIC_H_
#define R1_COMMON_NUMERIC_H_

#include <cstdint>
#include <cstring>

namespace r1 {

// Decodes one e4m3fn byte exactly (every value is representable in float).
float Fp8E4m3ToFloat(uint8_t b);

// Encodes a float to e4m3fn with round-to-nearest-even. Values beyond ±448 saturate to ±448
// (CUDA's __NV_SATFINITE); NaN maps to 0x7F.
uint8_t FloatToFp8E4m3(float f);

// bfloat16 is stored as its 16-bit pattern.
inline float Bf16ToFloat(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Rounds to nearest even; NaN stays a quiet NaN with the sign kept.
inline uint16_t FloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// Rounds a float to the nearest bf16 value and back (the effect of a BF16 store).
inline float RoundToBf16(float f) { return Bf16ToFloat(FloatToBf16(f)); }

}  // namespace r1

#endif  // R1_COMMON_NUMERIC_H_
