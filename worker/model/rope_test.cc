#include "worker/model/rope.h"

#include <cmath>

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(RopeTest, YarnThetaTableOfSpec) {
  auto c = LoadModelConfig("tests/fixtures/deepseek-r1-config.json");
  ASSERT_TRUE(c.ok());
  const double want[32] = {1.0,
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
  std::vector<double> theta = YarnInvFreq(*c);
  ASSERT_EQ(theta.size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(theta[i] / want[i], 1.0, 1e-8) << "i=" << i;
  EXPECT_EQ(YarnCosSinScale(*c), 1.0);
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
  std::vector<double> theta = YarnInvFreq(*c);
  for (int i = 0; i < 32; ++i) {
    double a = static_cast<float>(pos) * static_cast<float>(theta[i]);
    double e0 = x[2 * i] * std::cos(a) - x[2 * i + 1] * std::sin(a);
    double e1 = x[2 * i] * std::sin(a) + x[2 * i + 1] * std::cos(a);
    EXPECT_NEAR(y[2 * i], e0, 2e-4) << i;
    EXPECT_NEAR(y[2 * i + 1], e1, 2e-4) << i;
  }
}

}  // namespace
}  // namespace r1
