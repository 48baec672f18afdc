#include "common/numeric.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

namespace r1 {
namespace {

float DecodeE4m3(uint8_t b) {
  const int sign = (b >> 7) & 1;
  const int exp = (b >> 3) & 0xf;
  const int man = b & 0x7;
  float v;
  if (exp == 0xf && man == 0x7) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    v = std::ldexp(static_cast<float>(man) / 8.0f, -6);
  } else {
    v = std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
  }
  return sign ? -v : v;
}

const std::array<float, 256>& DecodeTable() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = DecodeE4m3(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

}  // namespace

float Fp8E4m3ToFloat(uint8_t b) { return DecodeTable()[b]; }

uint8_t FloatToFp8E4m3(float f) {
  // On the float's bits (no table search; exact, and independent of the FPU's rounding mode).
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t mag = u & 0x7fffffffu;
  if (mag > 0x7f800000u) return 0x7f;          // NaN
  if (mag >= 0x43e00000u) return sign | 0x7e;  // |f| ≥ 448 (infinity included): saturate
  if (mag < 0x3c800000u) {
    // Below 2^-6: the subnormal codes k·2^-9, k = 0..8 (8 is the smallest normal, 2^-6). The
    // scaling by 2^9 is exact, so is the split into integer and fraction.
    float a;
    std::memcpy(&a, &mag, sizeof a);
    const float v = a * 512.0f;
    int k = static_cast<int>(v);
    const float frac = v - static_cast<float>(k);
    if (frac > 0.5f || (frac == 0.5f && (k & 1) != 0)) ++k;
    return sign | static_cast<uint8_t>(k);
  }
  // Normal: exponent -6..8, the top 3 of the 23 mantissa bits, rounded on the other 20 (ties to
  // even); a carry into the next binade is the next code. |f| < 448 never rounds past 0x7e.
  int e = static_cast<int>(mag >> 23) - 127;
  uint32_t q = (mag >> 20) & 0x7u;
  const uint32_t rest = mag & 0xfffffu;
  if (rest > 0x80000u || (rest == 0x80000u && (q & 1u) != 0)) ++q;
  if (q == 8) {
    q = 0;
    ++e;
  }
  return sign | static_cast<uint8_t>(((e + 7) << 3) | static_cast<int>(q));
}

}  // namespace r1
