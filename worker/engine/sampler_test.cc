#include "worker/engine/sampler.h"

#include <map>
#include <vector>

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(SamplerTest, GreedyIgnoresPaddingRows) {
  std::vector<float> logits = {0.1f, 2.0f, 0.5f, 9.0f};  // id 3 is a padding row
  Sampler s(1);
  EXPECT_EQ(s.Sample(logits.data(), 4, 3, {}), 1);
  EXPECT_EQ(s.Sample(logits.data(), 4, 4, {}), 3);
}

TEST(SamplerTest, TopKOneIsGreedyAndSeedsReproduce) {
  std::vector<float> logits = {0.1f, 2.0f, 1.9f, -3.0f};
  Sampler s(5);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.Sample(logits.data(), 4, 4, {1.0f, 1.0f, 1, 0}), 1);
  Sampler a(42), b(42);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(a.Sample(logits.data(), 4, 4, {1.0f, 1.0f, 0, 0}),
              b.Sample(logits.data(), 4, 4, {1.0f, 1.0f, 0, 0}));
  }
}

TEST(SamplerTest, TopPKeepsTheNucleusOnly) {
  // probabilities at T=1 proportional to e^{logit}: 0.6, 0.3, 0.1 (approximately)
  std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  Sampler s(7);
  std::map<int, int> counts;
  for (int i = 0; i < 4000; ++i) counts[s.Sample(logits.data(), 3, 3, {1.0f, 0.85f, 0, 0})]++;
  EXPECT_EQ(counts[2], 0);  // 0.6 + 0.3 ≥ 0.85: id 2 is outside the nucleus
  EXPECT_NEAR(counts[0] / 4000.0, 2.0 / 3.0, 0.04);
}

TEST(SamplerTest, TemperatureMatchesSoftmax) {
  std::vector<float> logits = {0.0f, 1.0f};
  Sampler s(9);
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += s.Sample(logits.data(), 2, 2, {2.0f, 1.0f, 0, 0});
  const double want = std::exp(0.5) / (1.0 + std::exp(0.5));
  EXPECT_NEAR(ones / static_cast<double>(n), want, 0.015);
}

TEST(SamplerTest, ValidatesParams) {
  EXPECT_FALSE(ValidateSamplingParams({-1.0f, 1.0f, 0, 0}).ok());
  EXPECT_FALSE(ValidateSamplingParams({1.0f, 0.0f, 0, 0}).ok());
  EXPECT_FALSE(ValidateSamplingParams({1.0f, 1.5f, 0, 0}).ok());
  EXPECT_FALSE(ValidateSamplingParams({1.0f, 1.0f, -2, 0}).ok());
  EXPECT_TRUE(ValidateSamplingParams({0.6f, 0.95f, 40, 3}).ok());
}

}  // namespace
}  // namespace r1
