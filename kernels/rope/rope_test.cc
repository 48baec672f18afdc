// CPU reference test (runs everywhere): the YaRN θ table of spec §6.4, the cos/sin table, and
// the interleaved-pair rotation against a double-precision formula.
#include "kernels/rope/rope.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

TEST(RopeTest, YarnThetaMatchesSpecTable) {
  const double spec[32] = {1.0,
                           7.498942093e-1,
                           5.623413252e-1,
                           4.216965034e-1,
                           3.162277660e-1,
                           2.371373706e-1,
                           1.778279410e-1,
                           1.333521432e-1,
                           1.0e-1,
                           7.498942093e-2,
                           5.623413252e-2,
                           3.900692657e-2,
                           2.687936011e-2,
                           1.837814622e-2,
                           1.244795587e-2,
                           8.334508951e-3,
                           5.5e-3,
                           3.561997494e-3,
                           2.249365301e-3,
                           1.370513636e-3,
                           7.905694150e-4,
                           4.149903985e-4,
                           1.778279410e-4,
                           3.333803580e-5,
                           2.5e-5,
                           1.874735523e-5,
                           1.405853313e-5,
                           1.054241259e-5,
                           7.905694150e-6,
                           5.928434264e-6,
                           4.445698525e-6,
                           3.333803580e-6};
  const auto theta = YarnInvFreq(YarnConfig{});
  ASSERT_EQ(theta.size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(theta[i], spec[i], spec[i] * 1e-5) << i;
  EXPECT_FLOAT_EQ(YarnCosSinScale(YarnConfig{}), 1.0f);
}

TEST(RopeTest, RotatesInterleavedPairs) {
  std::vector<float> cs, sn;
  BuildRopeTable(YarnConfig{}, 300, &cs, &sn);
  const auto theta = YarnInvFreq(YarnConfig{});
  EXPECT_FLOAT_EQ(cs[0], 1.0f);  // p = 0 is the identity
  EXPECT_FLOAT_EQ(sn[0], 0.0f);
  std::mt19937 rng(3);
  const int64_t tokens = 3, heads = 2, stride = 80;  // 64 rope values at the start of 80
  auto x = testing::RandomBf16(tokens * heads * stride, rng);
  const auto orig = x;
  const std::vector<int32_t> pos = {0, 1, 299};
  RopeParams p{x.data(), heads * stride, stride,    tokens,    heads,
               64,       pos.data(),     cs.data(), sn.data(), 300};
  ASSERT_TRUE(RopeReference(p).ok());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t base = (t * heads + h) * stride;
      for (int i = 0; i < 32; ++i) {
        const double ang = static_cast<double>(static_cast<float>(pos[t]) * theta[i]);
        const double a = Bf16ToFloat(orig[base + 2 * i]), b = Bf16ToFloat(orig[base + 2 * i + 1]);
        EXPECT_NEAR(Bf16ToFloat(x[base + 2 * i]), a * std::cos(ang) - b * std::sin(ang), 2e-2);
        EXPECT_NEAR(Bf16ToFloat(x[base + 2 * i + 1]), a * std::sin(ang) + b * std::cos(ang), 2e-2);
      }
      for (int i = 64; i < stride; ++i) EXPECT_EQ(x[base + i], orig[base + i]);  // untouched
    }
  }
  const std::vector<int32_t> bad = {0, 1, 300};
  p.positions = bad.data();
  EXPECT_FALSE(RopeReference(p).ok());
}

TEST(RopeTest, RotatesHalvesInRotateHalfLayout) {
  std::vector<float> cs, sn;
  BuildRopeTable(YarnConfig{}, 300, &cs, &sn);
  const auto theta = YarnInvFreq(YarnConfig{});
  std::mt19937 rng(4);
  const int64_t tokens = 3, heads = 2, stride = 80;
  auto x = testing::RandomBf16(tokens * heads * stride, rng);
  const auto orig = x;
  const std::vector<int32_t> pos = {0, 7, 299};
  RopeParams p{x.data(), heads * stride, stride,    tokens,    heads,
               64,       pos.data(),     cs.data(), sn.data(), 300};
  p.layout = RopeLayout::kRotateHalf;
  ASSERT_TRUE(RopeReference(p).ok());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t base = (t * heads + h) * stride;
      for (int i = 0; i < 32; ++i) {
        const double ang = static_cast<double>(static_cast<float>(pos[t]) * theta[i]);
        const double a = Bf16ToFloat(orig[base + i]), b = Bf16ToFloat(orig[base + i + 32]);
        EXPECT_NEAR(Bf16ToFloat(x[base + i]), a * std::cos(ang) - b * std::sin(ang), 2e-2);
        EXPECT_NEAR(Bf16ToFloat(x[base + i + 32]), b * std::cos(ang) + a * std::sin(ang), 2e-2);
      }
      for (int i = 64; i < stride; ++i) EXPECT_EQ(x[base + i], orig[base + i]);  // untouched
    }
  }
}

}  // namespace
}  // namespace r1::kernels
