#include "worker/model/dense_rope.h"

#include <cmath>

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(DenseRopeTest, Llama3ScalingKeepsHighDividesLowInterpolatesBetween) {
  auto c = LoadDenseModelConfig("tests/fixtures/r1-distill-llama-8b-config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::vector<double> f = DenseInvFreq(*c);
  ASSERT_EQ(f.size(), 64u);
  int kept = 0, divided = 0, between = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const double plain = std::pow(500000.0, -2.0 * i / 128.0);
    const double wavelen = 2 * M_PI / plain;
    if (wavelen < 8192.0 / 4) {
      EXPECT_DOUBLE_EQ(f[i], plain) << i;
      ++kept;
    } else if (wavelen > 8192.0) {
      EXPECT_DOUBLE_EQ(f[i], plain / 8) << i;
      ++divided;
    } else {
      EXPECT_GT(f[i], plain / 8) << i;
      EXPECT_LT(f[i], plain) << i;
      ++between;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(between, 0);
}

TEST(DenseRopeTest, RotatesHalvesAndKeepsNorm) {
  auto c = LoadDenseModelConfig("tests/fixtures/r1-distill-qwen-1.5b-config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  DenseRope rope(*c);
  std::vector<float> x(128, 0.0f);
  x[0] = 1.0f;  // pairs with x[64]; θ_0 = 1
  rope.Apply(x.data(), 3);
  EXPECT_NEAR(x[0], std::cos(3.0f), 1e-6);
  EXPECT_NEAR(x[64], std::sin(3.0f), 1e-6);
  rope.Apply(x.data(), 0);  // position 0: identity
  EXPECT_NEAR(x[0], std::cos(3.0f), 1e-6);
}

TEST(DenseRopeTest, TableHoldsTheValuesApplyUses) {
  auto c = LoadDenseModelConfig("tests/fixtures/r1-distill-llama-8b-config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  DenseRope rope(*c);
  std::vector<float> cs, sn;
  rope.Table(300, &cs, &sn);
  ASSERT_EQ(cs.size(), 300u * 64);
  for (int64_t pos : {0, 1, 77, 299}) {
    for (int i = 0; i < 64; i += 9) {
      std::vector<float> x(128, 0.0f);
      x[i] = 1.0f;  // rotates into (cos, sin) at (i, i + 64)
      rope.Apply(x.data(), pos);
      EXPECT_EQ(x[i], cs[pos * 64 + i]) << pos << " " << i;
      EXPECT_EQ(x[i + 64], sn[pos * 64 + i]) << pos << " " << i;
    }
  }
}

}  // namespace
}  // namespace r1
