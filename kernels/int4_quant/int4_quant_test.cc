// CPU reference test (runs everywhere): the packed nibble layout, and the FP8 → INT4 conversion
// against the spec §13.3 formula.
#include "kernels/int4_quant/int4_quant.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

TEST(Int4QuantTest, PackedLayoutIsInterleaved) {
  uint8_t row[4] = {};
  const int v[8] = {1, 2, 3, 4, 5, 6, 7, -8};
  for (int j = 0; j < 8; ++j) Int4Set(row, j, v[j]);
  // offset binary v + 8 = [9 10 11 12 13 14 15 0]; nibbles [v0 v2 v4 v6 v1 v3 v5 v7] =
  // [9 11 13 15 10 12 14 0] → word 0x0ECAFDB9.
  EXPECT_EQ(row[0], 0xB9);
  EXPECT_EQ(row[1], 0xFD);
  EXPECT_EQ(row[2], 0xCA);
  EXPECT_EQ(row[3], 0x0E);
  for (int j = 0; j < 8; ++j) EXPECT_EQ(Int4Get(row, j), v[j]);
}

TEST(Int4QuantTest, ConversionMatchesSpec) {
  std::mt19937 rng(3);
  const int64_t n = 130, k = 384, ld = 4;  // two scale block rows (second one 2 rows tall)
  auto w = testing::RandomFp8(n * k, rng);
  for (int i = 0; i < 128; ++i) w[5 * k + 128 + i] = 0;  // an all-zero group
  auto bs = testing::RandomFloat(2 * ld, rng, 1e-3f, 1e-2f);
  std::vector<uint8_t> q(n * k / 2);
  std::vector<uint16_t> s(n * 3);
  ASSERT_TRUE(Int4FromFp8Reference({w.data(), bs.data(), ld, q.data(), s.data(), n, k}).ok());
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t g = 0; g < 3; ++g) {
      float amax = 0;
      for (int i = 0; i < 128; ++i) {
        amax = std::max(amax,
                        std::fabs(Fp8E4m3ToFloat(w[r * k + g * 128 + i]) * bs[(r / 128) * ld + g]));
      }
      const float scale = Bf16ToFloat(s[g * n + r]);
      EXPECT_EQ(scale, RoundToBf16(amax / 7.0f)) << r << "," << g;
      for (int i = 0; i < 128; ++i) {
        const double wv = Fp8E4m3ToFloat(w[r * k + g * 128 + i]) * bs[(r / 128) * ld + g];
        const int qv = Int4Get(q.data() + r * k / 2, g * 128 + i);
        ASSERT_GE(qv, -8);
        ASSERT_LE(qv, 7);
        if (scale == 0) {
          EXPECT_EQ(qv, 0);
        } else {
          EXPECT_LE(std::fabs(qv * double{scale} - wv), 0.5 * scale * (1 + 1e-6) + 1e-12)
              << r << "," << g << "," << i;
        }
      }
    }
  }
  EXPECT_EQ(s[1 * n + 5], 0);
}

TEST(Int4QuantTest, Validation) {
  uint8_t w[128] = {}, q[64] = {};
  float bs = 1;
  uint16_t s = 0;
  EXPECT_FALSE(ValidateInt4FromFp8({w, &bs, 1, q, &s, 1, 100}).ok());
  EXPECT_FALSE(ValidateInt4FromFp8({w, &bs, 0, q, &s, 1, 128}).ok());
  EXPECT_TRUE(ValidateInt4FromFp8({w, &bs, 1, q, &s, 1, 128}).ok());
}

}  // namespace
}  // namespace r1::kernels
