#include "worker/model/rope.h"

#include <cmath>

#include <gtest/gtest.h>

namespace r1 {
namespace {

// R1's config gives exactly the YaRN parameters kernels/rope's table (tested against the spec's
// θ table there) is built for; without rope_scaling the frequencies are unscaled.
TEST(RopeTest, YarnConfigOfR1) {
  auto c = LoadModelConfig("tests/fixtures/deepseek-r1-config.json");
  ASSERT_TRUE(c.ok());
  const kernels::YarnConfig y = YarnConfigOf(*c), spec;
  EXPECT_EQ(y.dim, spec.dim);
  EXPECT_EQ(y.base, spec.base);
  EXPECT_EQ(y.factor, spec.factor);
  EXPECT_EQ(y.beta_fast, spec.beta_fast);
  EXPECT_EQ(y.beta_slow, spec.beta_slow);
  EXPECT_EQ(y.original_max_pos, spec.original_max_pos);
  EXPECT_EQ(y.mscale, spec.mscale);
  EXPECT_EQ(y.mscale_all_dim, spec.mscale_all_dim);
  EXPECT_EQ(kernels::YarnCosSinScale(y), 1.0f);
  ModelConfig plain = *c;
  plain.rope_scaling.reset();
  const std::vector<float> theta = kernels::YarnInvFreq(YarnConfigOf(plain));
  ASSERT_EQ(theta.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    EXPECT_FLOAT_EQ(theta[i], 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / 64)) << i;
  }
}

// transformers' YaRN attention factor: the mscale ratio only when both are set, else m(1).
TEST(RopeTest, CosSinScaleFollowsTransformers) {
  kernels::YarnConfig y;
  y.factor = 40.0;
  y.mscale = 0.707;
  y.mscale_all_dim = 0.707;
  EXPECT_FLOAT_EQ(kernels::YarnCosSinScale(y), 1.0f);
  y.mscale_all_dim = 0.0;
  EXPECT_FLOAT_EQ(kernels::YarnCosSinScale(y), static_cast<float>(0.1 * std::log(40.0) + 1.0));
  y.factor = 1.0;
  EXPECT_FLOAT_EQ(kernels::YarnCosSinScale(y), 1.0f);
}

TEST(RopeTest, SoftmaxScaleOfSpec) {
  auto c = LoadModelConfig("tests/fixtures/deepseek-r1-config.json");
  ASSERT_TRUE(c.ok());
  EXPECT_NEAR(SoftmaxScale(*c), 0.13523378, 5e-9);
  ModelConfig plain = *c;
  plain.rope_scaling.reset();
  EXPECT_NEAR(SoftmaxScale(plain), 1.0 / std::sqrt(192.0), 1e-12);
}

TEST(RopeTest, RotatesInterleavedPairs) {
  auto c = LoadModelConfig("tests/fixtures/deepseek-r1-config.json");
  ASSERT_TRUE(c.ok());
  Rope rope(*c);
  std::vector<float> x(64), y(64);
  for (int i = 0; i < 64; ++i) x[i] = std::sin(0.37f * i) + 0.1f * i;
  y = x;
  rope.Apply(y.data(), 0);
  EXPECT_EQ(x, y);  // position 0 is the identity
  const int64_t pos = 1234;
  rope.Apply(y.data(), pos);
  const std::vector<float> theta = kernels::YarnInvFreq(YarnConfigOf(*c));
  for (int i = 0; i < 32; ++i) {
    double a = static_cast<float>(pos) * theta[i];
    double e0 = x[2 * i] * std::cos(a) - x[2 * i + 1] * std::sin(a);
    double e1 = x[2 * i] * std::sin(a) + x[2 * i + 1] * std::cos(a);
    EXPECT_NEAR(y[2 * i], e0, 2e-4) << i;
    EXPECT_NEAR(y[2 * i + 1], e1, 2e-4) << i;
  }
}

}  // namespace
}  // namespace r1
