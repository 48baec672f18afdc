#include "worker/model/gating.h"

#include <cmath>

#include <gtest/gtest.h>

namespace r1 {
namespace {

float Logit(float s) { return std::log(s / (1.0f - s)); }

std::vector<float> Logits(std::initializer_list<float> scores) {
  std::vector<float> v;
  for (float s : scores) v.push_back(Logit(s));
  return v;
}

TEST(GatingTest, BiasChoosesButDoesNotWeight) {
  auto z = Logits({0.9f, 0.8f, 0.3f, 0.2f});
  std::vector<float> bias = {0.0f, 0.0f, 0.7f, 0.0f};
  ExpertChoice c = NoauxTcGate(z.data(), bias.data(), {4, 1, 1, 2, true, 2.5f});
  EXPECT_EQ(c.experts, (std::vector<int>{0, 2}));
  EXPECT_NEAR(c.weights[0], 2.5f * 0.9f / 1.2f, 1e-6);
  EXPECT_NEAR(c.weights[1], 2.5f * 0.3f / 1.2f, 1e-6);
}

TEST(GatingTest, GroupScoreIsSumOfTopTwo) {
  // Group 0 holds the single best expert (0.95) but sums to 1.0; group 1 sums to 1.2 and wins.
  auto z = Logits({0.95f, 0.05f, 0.6f, 0.6f, 0.1f, 0.1f, 0.2f, 0.3f});
  std::vector<float> bias(8, 0.0f);
  ExpertChoice c = NoauxTcGate(z.data(), bias.data(), {8, 4, 1, 2, true, 1.0f});
  EXPECT_EQ(c.experts, (std::vector<int>{2, 3}));
  EXPECT_NEAR(c.weights[0], 0.5f, 1e-6);
}

TEST(GatingTest, OnlyKeptGroupsEvenWithNegativeBiasedScores) {
  // Biased scores are all negative: excluded groups must still never be chosen (−∞ fill, not 0).
  auto z = Logits({0.1f, 0.2f, 0.3f, 0.4f, 0.15f, 0.25f, 0.35f, 0.45f});
  std::vector<float> bias(8, -1.0f);
  bias[3] = -0.5f;  // group 1 (experts 2,3) best
  bias[7] = -0.6f;  // group 3 (experts 6,7) second
  ExpertChoice c = NoauxTcGate(z.data(), bias.data(), {8, 4, 2, 4, true, 2.5f});
  EXPECT_EQ(c.experts, (std::vector<int>{2, 3, 6, 7}));
  float sum = 0.3f + 0.4f + 0.35f + 0.45f;
  EXPECT_NEAR(c.weights[3], 2.5f * 0.45f / sum, 1e-6);
  float total = 0;
  for (float w : c.weights) total += w;
  EXPECT_NEAR(total, 2.5f, 1e-5);  // normalised, then ×2.5
}

TEST(GatingTest, WithoutNormalisationWeightsAreScaledAffinities) {
  auto z = Logits({0.9f, 0.8f, 0.3f, 0.2f});
  std::vector<float> bias(4, 0.0f);
  ExpertChoice c = NoauxTcGate(z.data(), bias.data(), {4, 2, 1, 2, false, 2.0f});
  EXPECT_EQ(c.experts, (std::vector<int>{0, 1}));
  EXPECT_NEAR(c.weights[0], 1.8f, 1e-6);
  EXPECT_NEAR(c.weights[1], 1.6f, 1e-6);
}

}  // namespace
}  // namespace r1
