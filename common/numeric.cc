#include "common/numeric.h"

#include <array>
#include <cmath>
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
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  // Positive codes 0x00..0x7e are monotonic in value: binary-search the two neighbours and pick
  // the nearer, ties to the even code (even mantissa).
  const auto& t = DecodeTable();
  int lo = 0, hi = 0x7e;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (t[mid] <= a)
      lo = mid;
    else
      hi = mid;
  }
  float dlo = a - t[lo], dhi = t[hi] - a;
  int code;
  if (dlo < dhi)
    code = lo;
  else if (dhi < dlo)
    code = hi;
  else
    code = (lo & 1) ? hi : lo;
  return sign | static_cast<uint8_t>(code);
}

}  // namespace r1
