#include "common/numeric.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace r1 {
namespace {

// Spec §3.3 formula, written independently of the implementation.
double SpecValue(int b) {
  int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  double v;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  if (e == 0)
    v = std::pow(2.0, -6) * (m / 8.0);
  else
    v = std::pow(2.0, e - 7) * (1.0 + m / 8.0);
  return s ? -v : v;
}

TEST(Fp8Test, AllByteValuesMatchSpecFormula) {
  int nans = 0;
  for (int b = 0; b < 256; ++b) {
    double want = SpecValue(b);
    float got = Fp8E4m3ToFloat(static_cast<uint8_t>(b));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "byte " << b;
      ++nans;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << "byte " << b;
    }
  }
  EXPECT_EQ(nans, 2);  // 0x7F and 0xFF only: e4m3fn has no infinities
  EXPECT_EQ(Fp8E4m3ToFloat(0x7e), 448.0f);
  EXPECT_EQ(Fp8E4m3ToFloat(0x01), std::ldexp(1.0f, -9));
}

TEST(Fp8Test, EncodeRoundTripsEveryFiniteValue) {
  for (int b = 0; b < 256; ++b) {
    if (b == 0x7f || b == 0xff) continue;
    float v = Fp8E4m3ToFloat(static_cast<uint8_t>(b));
    uint8_t back = FloatToFp8E4m3(v);
    if (b == 0x80) {  // -0 keeps its sign
      EXPECT_EQ(back, 0x80);
    } else {
      EXPECT_EQ(back, b) << "value " << v;
    }
  }
}

TEST(Fp8Test, EncodeSaturatesAndRoundsToNearestEven) {
  EXPECT_EQ(FloatToFp8E4m3(1000.0f), 0x7e);
  EXPECT_EQ(FloatToFp8E4m3(-1e30f), 0xfe);
  EXPECT_EQ(FloatToFp8E4m3(std::numeric_limits<float>::infinity()), 0x7e);
  EXPECT_EQ(FloatToFp8E4m3(std::nanf("")), 0x7f);
  // 1.0 = 0x38, next 1.125 = 0x39. Midpoint 1.0625 ties to even mantissa (0x38).
  EXPECT_EQ(FloatToFp8E4m3(1.0625f), 0x38);
  // 1.1875 is the midpoint of 1.125 (0x39) and 1.25 (0x3a): even is 0x3a.
  EXPECT_EQ(FloatToFp8E4m3(1.1875f), 0x3a);
  EXPECT_EQ(FloatToFp8E4m3(1.07f), 0x39);
  // Below half the smallest subnormal rounds to zero; exactly half ties to even (zero).
  EXPECT_EQ(FloatToFp8E4m3(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(FloatToFp8E4m3(std::ldexp(1.5f, -10)), 0x01);
}

TEST(Fp8Test, EncodeIsNearestOnRandomInputs) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-500.0f, 500.0f);
  for (int i = 0; i < 20000; ++i) {
    float x = dist(rng);
    float q = Fp8E4m3ToFloat(FloatToFp8E4m3(x));
    float clamped = std::fmax(-448.0f, std::fmin(448.0f, x));
    float err = std::fabs(q - clamped);
    for (int b = 0; b < 256; ++b) {
      float v = Fp8E4m3ToFloat(static_cast<uint8_t>(b));
      if (!std::isnan(v)) {
        ASSERT_LE(err, std::fabs(v - clamped)) << x;
      }
    }
  }
}

// The encoder as first written, by binary search over the decoded codes: nearest, ties to the
// even code. The bit-level FloatToFp8E4m3 must agree with it everywhere.
uint8_t SearchEncodeE4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  int lo = 0, hi = 0x7e;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (Fp8E4m3ToFloat(static_cast<uint8_t>(mid)) <= a) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const float dlo = a - Fp8E4m3ToFloat(static_cast<uint8_t>(lo));
  const float dhi = Fp8E4m3ToFloat(static_cast<uint8_t>(hi)) - a;
  const int code = dlo < dhi ? lo : dhi < dlo ? hi : ((lo & 1) ? hi : lo);
  return sign | static_cast<uint8_t>(code);
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Every code's value and every midpoint between neighbouring codes, ± 64 ulps, both signs; the
// specials; and a stride through all 2^32 bit patterns.
TEST(Fp8Test, EncodeEqualsTheSearchEncoderEverywhereThatMatters) {
  std::vector<float> anchors = {0.0f,
                                448.0f,
                                464.0f,
                                480.0f,
                                1e-30f,
                                1e-40f,
                                std::numeric_limits<float>::max(),
                                std::numeric_limits<float>::infinity(),
                                std::numeric_limits<float>::quiet_NaN(),
                                std::numeric_limits<float>::denorm_min()};
  for (int c = 0; c < 0x7e; ++c) {
    const float lo = Fp8E4m3ToFloat(static_cast<uint8_t>(c));
    const float hi = Fp8E4m3ToFloat(static_cast<uint8_t>(c + 1));
    anchors.push_back(lo);
    anchors.push_back(0.5f * (lo + hi));  // exact: both have few significant bits
  }
  anchors.push_back(Fp8E4m3ToFloat(0x7e));
  int64_t checked = 0;
  for (float anchor : anchors) {
    for (int d = -64; d <= 64; ++d) {
      const uint32_t u = Bits(anchor) + static_cast<uint32_t>(d);
      for (uint32_t sign : {0u, 0x80000000u}) {
        const float f = FromBits((u & 0x7fffffffu) | sign);
        ASSERT_EQ(FloatToFp8E4m3(f), SearchEncodeE4m3(f)) << "bits " << std::hex << Bits(f);
        ++checked;
      }
    }
  }
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 4093) {
    const float f = FromBits(static_cast<uint32_t>(u));
    ASSERT_EQ(FloatToFp8E4m3(f), SearchEncodeE4m3(f)) << "bits " << std::hex << u;
    ++checked;
  }
  EXPECT_GT(checked, 1000000);
}

TEST(Bf16Test, RoundTripsEveryBf16Pattern) {
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = Bf16ToFloat(static_cast<uint16_t>(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(f))));
    } else {
      EXPECT_EQ(FloatToBf16(f), b);
    }
  }
}

TEST(Bf16Test, RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  // 1 + 3·2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even).
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20))),
            1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(FloatToBf16(-0.0f), 0x8000);
  EXPECT_TRUE(std::isinf(Bf16ToFloat(FloatToBf16(std::numeric_limits<float>::infinity()))));
  // The largest float rounds up to infinity, as IEEE rounding requires.
  EXPECT_TRUE(std::isinf(Bf16ToFloat(FloatToBf16(std::numeric_limits<float>::max()))));
}

}  // namespace
}  // namespace r1
