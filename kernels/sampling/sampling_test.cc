// CPU reference test (runs everywhere): greedy, determinism per (seed, offset), top-k = 1,
// a tiny top-p, the candidate cap, and that sampling follows softmax(z) statistically.
#include "kernels/sampling/sampling.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace r1::kernels {
namespace {

struct Row {
  float t;
  int32_t k;
  float p;
  uint64_t seed, offset;
};

int32_t Sample(const std::vector<float>& logits, const Row& r) {
  int32_t out = -1;
  SamplingParams p{logits.data(),
                   static_cast<int64_t>(logits.size()),
                   1,
                   static_cast<int64_t>(logits.size()),
                   &r.t,
                   &r.k,
                   &r.p,
                   &r.seed,
                   &r.offset,
                   &out};
  EXPECT_TRUE(SamplingReference(p).ok());
  return out;
}

TEST(SamplingReferenceTest, GreedyAndFilters) {
  std::vector<float> logits = {1.0f, 3.0f, NAN, 3.0f, -2.0f};
  EXPECT_EQ(Sample(logits, {0.0f, 0, 1.0f, 1, 0}), 1);   // ties → lowest index, NaN ignored
  EXPECT_EQ(Sample(logits, {1.0f, 1, 1.0f, 7, 3}), 1);   // top-1
  EXPECT_EQ(Sample(logits, {1.0f, 0, 1e-6f, 7, 3}), 1);  // tiny nucleus
  for (uint64_t off = 0; off < 50; ++off) {
    const int32_t a = Sample(logits, {0.7f, 0, 1.0f, 42, off});
    EXPECT_EQ(a, Sample(logits, {0.7f, 0, 1.0f, 42, off}));  // replayable
    EXPECT_NE(a, 2);                                         // NaN never chosen
  }
}

TEST(SamplingReferenceTest, FollowsSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, -1.0f};
  const float t = 1.0f;
  std::vector<int> count(4, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[Sample(logits, {t, 0, 1.0f, 123, static_cast<uint64_t>(i)})];
  double z = 0;
  for (float l : logits) z += std::exp(l / t);
  for (int i = 0; i < 4; ++i) {
    const double want = std::exp(logits[i] / t) / z;
    EXPECT_NEAR(count[i] / double{n}, want, 0.015) << i;
  }
  // top-p 0.7 keeps tokens 2 (0.64) and 1 (0.24 → 0.88 ≥ 0.7): token 0 and 3 never appear.
  std::fill(count.begin(), count.end(), 0);
  for (int i = 0; i < 2000; ++i) ++count[Sample(logits, {t, 0, 0.7f, 9, static_cast<uint64_t>(i)})];
  EXPECT_EQ(count[0] + count[3], 0);
  EXPECT_GT(count[1], 0);
}

TEST(SamplingReferenceTest, CandidateCapAndUniform) {
  std::vector<float> logits(5000, 0.0f);  // all equal: candidates are indices 0..1023
  for (uint64_t off = 0; off < 200; ++off) {
    EXPECT_LT(Sample(logits, {1.0f, 0, 1.0f, 5, off}), kSamplingMaxCandidates);
  }
  for (uint32_t i = 0; i < 1000; ++i) {
    const float u = SamplingUniform(1, 2, i);
    EXPECT_GT(u, 0.0f);
    EXPECT_LT(u, 1.0f);
  }
  EXPECT_LT(SamplingKey(-1.0f), SamplingKey(-0.5f));
  EXPECT_LT(SamplingKey(-0.5f), SamplingKey(0.25f));
  EXPECT_EQ(SamplingKey(NAN), 0u);
}

}  // namespace
}  // namespace r1::kernels
