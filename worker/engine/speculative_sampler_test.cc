#include "worker/engine/speculative_sampler.h"

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/sampling/sampling.h"

namespace r1 {
namespace {

std::vector<float> RandomDistribution(std::mt19937_64& rng, int vocab) {
  std::gamma_distribution<float> g(0.7f);
  std::vector<float> d(vocab);
  float sum = 0;
  for (float& x : d) sum += (x = g(rng) + 1e-3f);
  for (float& x : d) x /= sum;
  return d;
}

int Draw(std::mt19937_64& rng, const float* dist, int vocab) {
  std::discrete_distribution<int> pick(dist, dist + vocab);
  return pick(rng);
}

// Pearson's chi-square statistic of observed counts against expected probabilities.
double ChiSquare(const std::vector<int64_t>& counts, const float* expect) {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  double chi2 = 0;
  for (size_t v = 0; v < counts.size(); ++v) {
    const double e = static_cast<double>(n) * expect[v];
    chi2 += (counts[v] - e) * (counts[v] - e) / e;
  }
  return chi2;
}

// Critical value of chi-square with 5 degrees of freedom at p = 0.001.
constexpr double kChi2Df5 = 20.515;
constexpr int kVocab = 6;

TEST(SpeculativeSamplerTest, StochasticOutputFollowsTheTargetDistribution) {
  constexpr int kTrials = 200000, kDrafts = 2;
  std::mt19937_64 rng(20250306);
  std::vector<float> p, q;
  for (int j = 0; j <= kDrafts; ++j) {
    auto d = RandomDistribution(rng, kVocab);
    p.insert(p.end(), d.begin(), d.end());
  }
  for (int j = 0; j < kDrafts; ++j) {
    auto d = RandomDistribution(rng, kVocab);
    q.insert(q.end(), d.begin(), d.end());
  }
  // Emitted token at each position: distributed as the target's row there (the rows do not
  // depend on the earlier tokens here, so no conditioning is needed).
  std::vector<std::vector<int64_t>> counts(kDrafts + 1, std::vector<int64_t>(kVocab));
  int64_t accepted = 0;
  for (int t = 0; t < kTrials; ++t) {
    std::vector<int> drafts;
    for (int j = 0; j < kDrafts; ++j) drafts.push_back(Draw(rng, &q[j * kVocab], kVocab));
    auto r = VerifyStochastic(drafts, p, q, kVocab, /*seed=*/42, /*offset=*/uint64_t(t) * 16);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(static_cast<int>(r->tokens.size()), r->accepted + 1);
    for (size_t j = 0; j < r->tokens.size(); ++j) ++counts[j][r->tokens[j]];
    accepted += r->accepted > 0;
  }
  for (int j = 0; j <= kDrafts; ++j) {
    const double chi2 = ChiSquare(counts[j], &p[j * kVocab]);
    EXPECT_LT(chi2, kChi2Df5) << "position " << j;
  }
  // The first draft is accepted with probability Σ min(p, q).
  double expect = 0;
  for (int v = 0; v < kVocab; ++v) expect += std::min(p[v], q[v]);
  EXPECT_NEAR(static_cast<double>(accepted) / kTrials, expect, 0.005);
}

TEST(SpeculativeSamplerTest, GreedyDraftFollowsTheTargetDistribution) {
  // A greedily chosen draft is q one-hot: accept with p(d), else draw from p without d.
  constexpr int kTrials = 200000;
  std::mt19937_64 rng(7);
  std::vector<float> p = RandomDistribution(rng, kVocab);
  auto p1 = RandomDistribution(rng, kVocab);
  p.insert(p.end(), p1.begin(), p1.end());
  std::vector<float> q(kVocab, 0.0f);
  q[3] = 1.0f;
  std::vector<int64_t> counts(kVocab);
  for (int t = 0; t < kTrials; ++t) {
    auto r = VerifyStochastic({3}, p, q, kVocab, 9, uint64_t(t) * 4);
    ASSERT_TRUE(r.ok()) << r.status();
    ++counts[r->tokens[0]];
  }
  EXPECT_LT(ChiSquare(counts, p.data()), kChi2Df5);
}

TEST(SpeculativeSamplerTest, StochasticIsDeterministicInSeedAndOffset) {
  std::mt19937_64 rng(3);
  std::vector<float> p, q;
  for (int j = 0; j < 4; ++j) {
    auto d = RandomDistribution(rng, kVocab);
    p.insert(p.end(), d.begin(), d.end());
  }
  for (int j = 0; j < 3; ++j) {
    auto d = RandomDistribution(rng, kVocab);
    q.insert(q.end(), d.begin(), d.end());
  }
  int differ = 0;
  for (uint64_t off = 0; off < 200; ++off) {
    auto a = VerifyStochastic({1, 2, 3}, p, q, kVocab, 5, off);
    auto b = VerifyStochastic({1, 2, 3}, p, q, kVocab, 5, off);
    auto c = VerifyStochastic({1, 2, 3}, p, q, kVocab, 6, off);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_EQ(a->tokens, b->tokens);
    differ += a->tokens != c->tokens;
  }
  EXPECT_GT(differ, 0);  // the seed matters
}

TEST(SpeculativeSamplerTest, IdenticalDistributionsAcceptEveryDraft) {
  std::mt19937_64 rng(11);
  std::vector<float> p;
  for (int j = 0; j < 4; ++j) {
    auto d = RandomDistribution(rng, kVocab);
    p.insert(p.end(), d.begin(), d.end());
  }
  std::vector<float> q(p.begin(), p.begin() + 3 * kVocab);
  for (uint64_t off = 0; off < 100; ++off) {
    auto r = VerifyStochastic({0, 4, 5}, p, q, kVocab, 1, off);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->accepted, 3);
    EXPECT_EQ(r->tokens.size(), 4u);
  }
}

TEST(SpeculativeSamplerTest, RejectsMalformedInput) {
  std::vector<float> p(2 * kVocab, 1.0f / kVocab), q(kVocab, 0.0f);
  q[0] = 1.0f;
  EXPECT_FALSE(VerifyStochastic({1}, p, q, kVocab, 0, 0).ok());       // q(d) = 0
  EXPECT_FALSE(VerifyStochastic({0, 1}, p, q, kVocab, 0, 0).ok());    // sizes
  EXPECT_FALSE(VerifyStochastic({kVocab}, p, q, kVocab, 0, 0).ok());  // id out of range
  p[1] = -0.5f;
  EXPECT_FALSE(VerifyStochastic({0}, p, q, kVocab, 0, 0).ok());
  EXPECT_FALSE(VerifyGreedy({1, 2}, {1, 2}).ok());
}

TEST(SpeculativeSamplerTest, GreedyAcceptsThePrefixThatMatches) {
  auto r = VerifyGreedy({5, 6, 7}, {5, 6, 9, 4});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 2);
  EXPECT_EQ(r->tokens, (std::vector<int>{5, 6, 9}));
  r = VerifyGreedy({5, 6, 7}, {5, 6, 7, 4});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 3);
  EXPECT_EQ(r->tokens, (std::vector<int>{5, 6, 7, 4}));  // bonus token
  r = VerifyGreedy({}, {8});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tokens, (std::vector<int>{8}));
}

// Greedy speculative decoding of a deterministic "target" (next token = a hash of the prefix)
// with drafts that are right about 70 % of the time emits exactly the target's greedy sequence.
TEST(SpeculativeSamplerTest, GreedyVerificationIsExact) {
  auto target = [](const std::vector<int>& prefix) {
    uint64_t h = 1469598103934665603ull;
    for (int t : prefix) h = (h ^ static_cast<uint64_t>(t)) * 1099511628211ull;
    return static_cast<int>(h % 50);
  };
  std::vector<int> plain = {1};
  while (plain.size() < 300) plain.push_back(target(plain));

  std::mt19937_64 rng(99);
  std::vector<int> spec = {1};
  int steps = 0;
  while (spec.size() < 300) {
    ++steps;
    const int k = 1 + static_cast<int>(rng() % 3);
    std::vector<int> drafts, ctx = spec;
    for (int j = 0; j < k; ++j) {
      int d = rng() % 10 < 7 ? target(ctx) : static_cast<int>(rng() % 50);
      drafts.push_back(d);
      ctx.push_back(d);
    }
    // The target's greedy choices at the k + 1 verified positions.
    std::vector<int> choices;
    ctx = spec;
    for (int j = 0; j <= k; ++j) {
      choices.push_back(target(ctx));
      if (j < k) ctx.push_back(drafts[j]);
    }
    auto r = VerifyGreedy(drafts, choices);
    ASSERT_TRUE(r.ok());
    spec.insert(spec.end(), r->tokens.begin(), r->tokens.end());
  }
  spec.resize(300);
  EXPECT_EQ(spec, plain);
  EXPECT_LT(steps, 250);  // fewer target passes than tokens
}

TEST(SpeculativeSamplerTest, SamplingDistributionIsWhatTheKernelDrawSamples) {
  const std::vector<float> logits = {0.3f, 2.0f, -1.0f, 1.2f, 2.0f, -5.0f, 0.9f, 1.7f};
  const int64_t V = static_cast<int64_t>(logits.size());
  std::vector<float> p;
  // top_k = 1: the argmax (lowest id on ties).
  SamplingDistribution(logits.data(), V, 0.7f, 1, 1.0f, &p);
  EXPECT_EQ(p, (std::vector<float>{0, 1, 0, 0, 0, 0, 0, 0}));
  // No cut: softmax(logits / T).
  SamplingDistribution(logits.data(), V, 2.0f, 0, 1.0f, &p);
  double z = 0;
  for (float l : logits) z += std::exp(l / 2.0);
  for (int64_t v = 0; v < V; ++v) EXPECT_NEAR(p[v], std::exp(logits[v] / 2.0) / z, 1e-6) << v;
  // top-k 5 and top-p 0.8: the kernel's draws over many offsets land in p's support, with p's
  // frequencies.
  constexpr int kDraws = 100000;
  SamplingDistribution(logits.data(), V, 0.8f, 5, 0.8f, &p);
  std::vector<int64_t> counts(V);
  const float t = 0.8f, top_p = 0.8f;
  const int32_t top_k = 5;
  const uint64_t seed = 99;
  std::vector<uint64_t> offsets(kDraws);
  std::vector<float> rows;
  for (int i = 0; i < kDraws; ++i) {
    offsets[i] = i;
    rows.insert(rows.end(), logits.begin(), logits.end());
  }
  std::vector<float> temps(kDraws, t), tps(kDraws, top_p);
  std::vector<int32_t> tks(kDraws, top_k), out(kDraws);
  std::vector<uint64_t> seeds(kDraws, seed);
  kernels::SamplingParams sp;
  sp.logits = rows.data();
  sp.logits_stride = V;
  sp.rows = kDraws;
  sp.vocab = V;
  sp.temperature = temps.data();
  sp.top_k = tks.data();
  sp.top_p = tps.data();
  sp.seed = seeds.data();
  sp.offset = offsets.data();
  sp.out = out.data();
  ASSERT_TRUE(kernels::SamplingReference(sp).ok());
  for (int32_t id : out) ++counts[id];
  std::vector<int64_t> kept_counts;
  std::vector<float> kept_p;
  for (int64_t v = 0; v < V; ++v) {
    if (p[v] == 0) {
      EXPECT_EQ(counts[v], 0) << "the kernel drew id " << v << ", outside the distribution";
    } else {
      kept_counts.push_back(counts[v]);
      kept_p.push_back(p[v]);
    }
  }
  ASSERT_GE(kept_p.size(), 2u);
  ASSERT_LT(kept_p.size(), 5u);  // top-p cut below top-k
  // Critical values at p = 0.001 for 1..3 degrees of freedom.
  const double critical[] = {10.83, 13.82, 16.27};
  EXPECT_LT(ChiSquare(kept_counts, kept_p.data()), critical[kept_p.size() - 2]);
}

}  // namespace
}  // namespace r1
