// CPU reference test (runs everywhere): hand-computed groups, the spec §9 formula recomputed
// independently, the SiLU·mul fusion, both scale layouts and parameter validation.
#include "kernels/fp8_quant/fp8_quant.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

TEST(Fp8QuantReferenceTest, HandComputedGroup) {
  std::vector<uint16_t> x(128, FloatToBf16(1.0f));
  x[5] = FloatToBf16(-2.0f);
  std::vector<uint8_t> q(128);
  float s = 0;
  Fp8QuantParams p{.x = x.data(),
                   .x_stride = 128,
                   .out = q.data(),
                   .scale = &s,
                   .scale_row_stride = 1,
                   .scale_group_stride = 1,
                   .rows = 1,
                   .cols = 128};
  ASSERT_TRUE(Fp8QuantReference(p).ok());
  EXPECT_FLOAT_EQ(s, 2.0f / 448.0f);
  EXPECT_EQ(Fp8E4m3ToFloat(q[5]), -448.0f);
  EXPECT_EQ(Fp8E4m3ToFloat(q[0]), 224.0f);  // 1 / (2/448) = 224 = 1.75·2^7, exact in e4m3
}

TEST(Fp8QuantReferenceTest, ZeroGroupUsesAmaxFloor) {
  std::vector<uint16_t> x(256, 0);
  std::vector<uint8_t> q(256, 0xaa);
  std::vector<float> s(2);
  Fp8QuantParams p{.x = x.data(),
                   .x_stride = 256,
                   .out = q.data(),
                   .scale = s.data(),
                   .scale_row_stride = 2,
                   .scale_group_stride = 1,
                   .rows = 1,
                   .cols = 256};
  ASSERT_TRUE(Fp8QuantReference(p).ok());
  EXPECT_FLOAT_EQ(s[0], 1e-4f / 448.0f);
  for (uint8_t b : q) EXPECT_EQ(b, 0);
}

// Recomputes spec §9 with doubles for the amax search and checks every value dequantises to
// within half an e4m3 step (relative 2^-4) of the input, for both layouts and the fusion.
TEST(Fp8QuantReferenceTest, MatchesSpecOnRandomRows) {
  std::mt19937 rng(7);
  const int64_t rows = 5, cols = 384, groups = 3;
  for (bool silu : {false, true}) {
    auto x = testing::RandomBf16(rows * cols * (silu ? 2 : 1), rng, 3.0f);
    std::vector<uint8_t> q(rows * cols);
    std::vector<float> s_tok(rows * groups), s_grp(groups * 8);
    Fp8QuantParams p{.x = x.data(),
                     .x_stride = cols * (silu ? 2 : 1),
                     .out = q.data(),
                     .scale = s_tok.data(),
                     .rows = rows,
                     .cols = cols,
                     .silu_mul = silu};
    SetTokenMajorScales(p);
    ASSERT_TRUE(Fp8QuantReference(p).ok());
    std::vector<uint8_t> q2(rows * cols);
    p.out = q2.data();
    p.scale = s_grp.data();
    SetGroupMajorScales(p, 8);
    ASSERT_TRUE(Fp8QuantReference(p).ok());
    EXPECT_EQ(q, q2);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g = 0; g < groups; ++g) {
        EXPECT_EQ(s_tok[r * groups + g], s_grp[g * 8 + r]);
        double amax = 0;
        std::vector<double> v(128);
        for (int i = 0; i < 128; ++i) {
          const int64_t c = g * 128 + i;
          const double xv = Bf16ToFloat(x[r * p.x_stride + c]);
          v[i] = silu ? xv / (1 + std::exp(-xv)) * Bf16ToFloat(x[r * p.x_stride + cols + c]) : xv;
          amax = std::max(amax, std::fabs(v[i]));
        }
        const double s = std::max(amax, 1e-4) / 448.0;
        EXPECT_NEAR(s_tok[r * groups + g], s, s * 1e-6);
        for (int i = 0; i < 128; ++i) {
          const double deq = Fp8E4m3ToFloat(q[r * cols + g * 128 + i]) * s;
          EXPECT_LE(std::fabs(deq - v[i]), std::fabs(v[i]) / 16 + s * std::ldexp(1.0, -10))
              << r << "," << g << "," << i;
        }
      }
    }
  }
}

TEST(Fp8QuantReferenceTest, Validation) {
  uint16_t x[256] = {};
  uint8_t q[256];
  float s[2];
  Fp8QuantParams p{.x = x,
                   .x_stride = 256,
                   .out = q,
                   .scale = s,
                   .scale_row_stride = 1,
                   .scale_group_stride = 1,
                   .rows = 1,
                   .cols = 100};
  EXPECT_FALSE(ValidateFp8Quant(p).ok());  // cols not a multiple of 128
  p.cols = 256;
  EXPECT_TRUE(ValidateFp8Quant(p).ok());
  p.silu_mul = true;
  EXPECT_FALSE(ValidateFp8Quant(p).ok());  // stride must hold gate and up
  p.silu_mul = false;
  p.scale = nullptr;
  EXPECT_FALSE(ValidateFp8Quant(p).ok());
  p.rows = 0;
  EXPECT_TRUE(ValidateFp8Quant(p).ok());  // empty batch is a no-op
}

}  // namespace
}  // namespace r1::kernels
