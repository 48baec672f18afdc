#include "worker/model/token_choice.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace r1 {
namespace {

// Chooses from one row (a copy: the choice processes it in place).
TokenChoice ChooseOne(std::vector<float> row, const TokenChoiceSpec& spec, int64_t valid = 0) {
  const int64_t vocab = static_cast<int64_t>(row.size());
  std::vector<TokenChoice> out;
  const absl::Status st =
      ChooseTokensOnHost(row.data(), vocab, vocab, valid ? valid : vocab, {&spec}, &out);
  EXPECT_TRUE(st.ok()) << st;
  return out.empty() ? TokenChoice{} : out[0];
}

TokenChoiceSpec Sampled(float temperature, float top_p, int top_k, uint64_t seed, uint64_t offset) {
  TokenChoiceSpec s;
  s.temperature = temperature;
  s.top_p = top_p;
  s.top_k = top_k;
  s.seed = seed;
  s.offset = offset;
  return s;
}

TEST(TokenChoiceTest, GreedyIgnoresPaddingRows) {
  const std::vector<float> logits = {0.1f, 2.0f, 0.5f, 9.0f};  // id 3 is a padding row
  EXPECT_EQ(ChooseOne(logits, {}, 3).id, 1);
  EXPECT_EQ(ChooseOne(logits, {}, 4).id, 3);
}

TEST(TokenChoiceTest, TopKOneIsGreedyAndTheReplayKeyReproduces) {
  const std::vector<float> logits = {0.1f, 2.0f, 1.9f, -3.0f};
  for (uint64_t i = 0; i < 50; ++i) EXPECT_EQ(ChooseOne(logits, Sampled(1, 1, 1, 5, i)).id, 1);
  std::map<int, int> seen;
  for (uint64_t i = 0; i < 200; ++i) {
    const int a = ChooseOne(logits, Sampled(1, 1, 0, 42, i)).id;
    EXPECT_EQ(a, ChooseOne(logits, Sampled(1, 1, 0, 42, i)).id);
    ++seen[a];
  }
  EXPECT_GE(seen.size(), 3u);  // sampled, not greedy
}

TEST(TokenChoiceTest, TopPKeepsTheNucleusOnly) {
  // Probabilities at T = 1: 0.6, 0.3, 0.1.
  const std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  std::map<int, int> counts;
  for (uint64_t i = 0; i < 4000; ++i) counts[ChooseOne(logits, Sampled(1, 0.85f, 0, 7, i)).id]++;
  EXPECT_EQ(counts[2], 0);  // 0.6 + 0.3 ≥ 0.85: id 2 is outside the nucleus
  EXPECT_NEAR(counts[0] / 4000.0, 2.0 / 3.0, 0.04);
}

TEST(TokenChoiceTest, TemperatureMatchesSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f};
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += ChooseOne(logits, Sampled(2, 1, 0, 9, i)).id;
  const double want = std::exp(0.5) / (1.0 + std::exp(0.5));
  EXPECT_NEAR(ones / static_cast<double>(n), want, 0.015);
}

TEST(TokenChoiceTest, BiasBansAndFavours) {
  const std::vector<float> logits = {5.0f, 1.0f, 0.0f};
  TokenChoiceSpec ban;
  ban.bias = {{0, -INFINITY}};
  EXPECT_EQ(ChooseOne(logits, ban).id, 1);
  TokenChoiceSpec favour;
  favour.bias = {{2, 3.0f}, {2, 3.0f}};  // repeated ids add: 6 > 5
  EXPECT_EQ(ChooseOne(logits, favour).id, 2);
}

TEST(TokenChoiceTest, PenaltiesFollowTheReferenceSemantics) {
  const std::vector<std::pair<int32_t, int32_t>> history = {{0, 3}, {1, 0}};
  // Frequency: 2.0 − 0.5·3 = 0.5 < 1.0, so id 2 wins.
  {
    const std::vector<float> logits = {2.0f, -5.0f, 1.0f};
    TokenChoiceSpec s;
    s.history = &history;
    s.frequency_penalty = 0.5f;
    EXPECT_EQ(ChooseOne(logits, s).id, 2);
    s.frequency_penalty = 0.3f;  // 2.0 − 0.9 = 1.1 > 1.0
    EXPECT_EQ(ChooseOne(logits, s).id, 0);
  }
  // Presence: once per generated id, whatever its count; prompt-only ids are not penalized.
  {
    const std::vector<float> logits = {2.0f, 1.9f, 1.0f};
    TokenChoiceSpec s;
    s.history = &history;
    s.presence_penalty = 1.5f;  // id 0: 0.5; id 1 (prompt only): 1.9
    EXPECT_EQ(ChooseOne(logits, s).id, 1);
  }
  // Repetition: positive logits divided, negative multiplied, prompt ids included.
  {
    const std::vector<float> logits = {2.0f, 1.9f, 1.2f};
    TokenChoiceSpec s;
    s.history = &history;
    s.repetition_penalty = 2.0f;  // 1.0, 0.95, 1.2
    EXPECT_EQ(ChooseOne(logits, s).id, 2);
    const std::vector<float> negative = {-1.0f, -1.2f, -1.5f};
    s.repetition_penalty = 1.6f;  // −1.6, −1.92, −1.5
    EXPECT_EQ(ChooseOne(negative, s).id, 2);
  }
}

TEST(TokenChoiceTest, LogprobsAreTheLogSoftmaxOfTheRawRow) {
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 3.0f);
  std::vector<float> logits(1000);
  for (float& v : logits) v = n(rng);
  double mx = -1e30, sum = 0;
  for (float v : logits) mx = std::max<double>(mx, v);
  for (float v : logits) sum += std::exp(v - mx);
  const double lse = mx + std::log(sum);
  TokenChoiceSpec s;
  s.logprobs = true;
  s.top_logprobs = 5;
  s.bias = {{7, 50.0f}};  // the choice is id 7, but logprobs are of the raw row
  const TokenChoice c = ChooseOne(logits, s);
  EXPECT_EQ(c.id, 7);
  EXPECT_NEAR(c.logprob, logits[7] - lse, 1e-4);
  ASSERT_EQ(c.top.size(), 5u);
  std::vector<int> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                    [&](int a, int b) { return logits[a] > logits[b]; });
  for (int j = 0; j < 5; ++j) {
    EXPECT_EQ(c.top[j].first, order[j]);
    EXPECT_NEAR(c.top[j].second, logits[order[j]] - lse, 1e-4);
  }
}

TEST(TokenChoiceTest, RowsOfABatchAreIndependent) {
  // Two rows, one wanting logprobs with 2 alternatives, one greedy with a ban.
  std::vector<float> rows = {0.0f, 1.0f, 2.0f, 3.0f, 2.0f, 1.0f};
  TokenChoiceSpec a, b;
  a.logprobs = true;
  a.top_logprobs = 2;
  b.bias = {{0, -INFINITY}};
  std::vector<TokenChoice> out;
  ASSERT_TRUE(ChooseTokensOnHost(rows.data(), 3, 3, 3, {&a, &b}, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].id, 2);
  EXPECT_EQ(out[0].top.size(), 2u);
  EXPECT_EQ(out[1].id, 1);
  EXPECT_TRUE(out[1].top.empty());
}

TEST(TokenChoiceTest, RefusesBadSpecs) {
  std::vector<float> row = {0.0f, 1.0f};
  std::vector<TokenChoice> out;
  TokenChoiceSpec s;
  s.bias = {{2, 1.0f}};
  EXPECT_FALSE(ChooseTokensOnHost(row.data(), 2, 2, 2, {&s}, &out).ok());
  s = {};
  s.frequency_penalty = 1.0f;  // no history
  EXPECT_FALSE(ChooseTokensOnHost(row.data(), 2, 2, 2, {&s}, &out).ok());
  s = {};
  s.top_logprobs = 21;
  EXPECT_FALSE(ChooseTokensOnHost(row.data(), 2, 2, 2, {&s}, &out).ok());
  EXPECT_FALSE(ChooseTokensOnHost(row.data(), 2, 2, 2, {nullptr}, &out).ok());
}

}  // namespace
}  // namespace r1
