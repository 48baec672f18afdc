// CPU reference test (runs everywhere): a hand-built routing case (group choice by the top-2
// sum, bias used for selection only, normalisation and the scaling factor) and validation.
#include "kernels/moe_gating/moe_gating.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace r1::kernels {
namespace {

float Logit(float s) { return std::log(s / (1 - s)); }  // sigmoid⁻¹

TEST(MoeGatingReferenceTest, HandBuiltCase) {
  // 8 experts in 4 groups of 2; keep 2 groups; choose 2 experts.
  // sigmoid scores: group0 {0.9, 0.1}=1.0, group1 {0.6, 0.6}=1.2, group2 {0.5, 0.55}=1.05,
  // group3 {0.2, 0.3}=0.5. Bias +0.5 on expert 7 lifts group3 to 1.0 — still not kept.
  const float s[8] = {0.9f, 0.1f, 0.6f, 0.6f, 0.5f, 0.55f, 0.2f, 0.3f};
  std::vector<float> logits(8), bias(8, 0.0f);
  for (int e = 0; e < 8; ++e) logits[e] = Logit(s[e]);
  bias[7] = 0.5f;
  bias[4] = 0.2f;  // expert 4's biased score 0.7 beats the 0.6s for selection
  int32_t ids[2];
  float w[2];
  MoeGatingParams p{logits.data(), bias.data(), ids, w, 1, 8, 4, 2, 2, true, 2.5f};
  ASSERT_TRUE(MoeGatingReference(p).ok());
  // Groups kept: 1 (1.2) and 2 (0.7 + 0.55 = 1.25). Experts: 4 (0.7), then 2 (0.6, lower index).
  EXPECT_EQ(ids[0], 4);
  EXPECT_EQ(ids[1], 2);
  // Weights use the unbiased scores: 0.5 / 1.1 and 0.6 / 1.1, times 2.5.
  EXPECT_NEAR(w[0], 2.5 * 0.5 / 1.1, 1e-5);
  EXPECT_NEAR(w[1], 2.5 * 0.6 / 1.1, 1e-5);
  p.normalize = false;
  ASSERT_TRUE(MoeGatingReference(p).ok());
  EXPECT_NEAR(w[0], 2.5 * 0.5, 1e-5);
}

TEST(MoeGatingReferenceTest, RowsPastValidTokensRouteNowhere) {
  std::vector<float> logits(3 * 8), bias(8, 0.0f);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = 0.1f * static_cast<float>(i % 7);
  std::vector<int32_t> all_ids(6), ids(6);
  std::vector<float> all_w(6), w(6);
  MoeGatingParams p{logits.data(), bias.data(), all_ids.data(), all_w.data(), 3, 8, 4, 2, 2,
                    true,          2.5f};
  ASSERT_TRUE(MoeGatingReference(p).ok());
  const int32_t valid = 2;
  p.topk_ids = ids.data();
  p.topk_weights = w.data();
  p.valid_tokens = &valid;
  ASSERT_TRUE(MoeGatingReference(p).ok());
  // The first two rows as without the bound; the third routed nowhere.
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 4),
            std::vector<int32_t>(all_ids.begin(), all_ids.begin() + 4));
  EXPECT_EQ(std::vector<float>(w.begin(), w.begin() + 4),
            std::vector<float>(all_w.begin(), all_w.begin() + 4));
  EXPECT_EQ(ids[4], -1);
  EXPECT_EQ(ids[5], -1);
  EXPECT_EQ(w[4], 0.0f);
  EXPECT_EQ(w[5], 0.0f);
  EXPECT_GE(all_ids[4], 0);
}

TEST(MoeGatingReferenceTest, Validation) {
  MoeGatingParams p;
  p.tokens = 0;
  EXPECT_TRUE(ValidateMoeGating(p).ok());  // R1 defaults
  p.top_k = 200;
  EXPECT_FALSE(ValidateMoeGating(p).ok());
  p.top_k = 8;
  p.groups = 7;
  EXPECT_FALSE(ValidateMoeGating(p).ok());
}

}  // namespace
}  // namespace r1::kernels
