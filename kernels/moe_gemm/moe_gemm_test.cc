// CPU reference test (runs everywhere): both grouped GEMM references against an independent
// double-precision formula, with empty experts and rows outside every expert; the pure launch
// configuration.
#include "kernels/moe_gemm/moe_gemm.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/int4_quant/int4_quant.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

TEST(MoeGemmReferenceTest, Fp8MatchesDoubleFormula) {
  std::mt19937 rng(11);
  const int64_t experts = 3, tokens = 6, n = 130, k = 256, ld = 4, nb = 2;
  const std::vector<int32_t> off = {0, 2, 2, 5};  // expert 1 empty, row 5 unassigned
  auto x = testing::RandomFp8(tokens * k, rng);
  auto xs = testing::RandomFloat(2 * tokens, rng, 0.01f, 0.1f);
  auto w = testing::RandomFp8(experts * n * k, rng);
  auto ws = testing::RandomFloat(experts * nb * ld, rng, 1e-3f, 1e-2f);
  std::vector<uint16_t> out(tokens * n, 0x1234);
  MoeGemmFp8Params p{x.data(),   xs.data(),  tokens, w.data(), ws.data(), ld,
                     off.data(), out.data(), tokens, experts,  n,         k};
  ASSERT_TRUE(MoeGemmFp8Reference(p).ok());
  for (int64_t e = 0; e < experts; ++e) {
    for (int32_t t = off[e]; t < off[e + 1]; ++t) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t i = 0; i < k; ++i) {
          acc += double{Fp8E4m3ToFloat(x[t * k + i])} * xs[(i / 128) * tokens + t] *
                 Fp8E4m3ToFloat(w[(e * n + j) * k + i]) * ws[(e * nb + j / 128) * ld + i / 128];
        }
        EXPECT_NEAR(Bf16ToFloat(out[t * n + j]), acc, std::fabs(acc) * 8e-3 + 1e-4);
      }
    }
  }
  for (int64_t j = 0; j < n; ++j) EXPECT_EQ(out[5 * n + j], 0x1234);
}

TEST(MoeGemmReferenceTest, Int4MatchesDoubleFormula) {
  std::mt19937 rng(12);
  const int64_t experts = 2, tokens = 4, n = 70, k = 256, groups = 2;
  const std::vector<int32_t> off = {0, 3, 4};
  auto x = testing::RandomBf16(tokens * k, rng);
  std::vector<uint8_t> w(experts * n * k / 2);
  std::uniform_int_distribution<int> qd(-8, 7);
  std::vector<int> qv(experts * n * k);
  for (int64_t i = 0; i < experts * n * k; ++i) {
    qv[i] = qd(rng);
    Int4Set(w.data() + (i / k) * (k / 2), i % k, qv[i]);
  }
  std::vector<uint16_t> ws(experts * n * groups);
  for (auto& s : ws) s = FloatToBf16(std::uniform_real_distribution<float>(1e-3f, 1e-2f)(rng));
  std::vector<uint16_t> out(tokens * n);
  MoeGemmInt4Params p{x.data(), w.data(), ws.data(), off.data(), out.data(), tokens, experts, n, k};
  ASSERT_TRUE(MoeGemmInt4Reference(p).ok());
  for (int64_t e = 0; e < experts; ++e) {
    for (int32_t t = off[e]; t < off[e + 1]; ++t) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t i = 0; i < k; ++i) {
          acc += double{Bf16ToFloat(x[t * k + i])} * qv[(e * n + j) * k + i] *
                 Bf16ToFloat(ws[(e * groups + i / 128) * n + j]);
        }
        EXPECT_NEAR(Bf16ToFloat(out[t * n + j]), acc, std::fabs(acc) * 8e-3 + 1e-4);
      }
    }
  }
}

TEST(MoeGemmReferenceTest, RejectsBadOffsets) {
  uint8_t x[128] = {}, w[128] = {};
  float xs = 1, ws = 1;
  uint16_t out[1];
  const int32_t off[2] = {0, 2};  // past tokens
  MoeGemmFp8Params p{x, &xs, 1, w, &ws, 1, off, out, 1, 1, 1, 128};
  EXPECT_FALSE(MoeGemmFp8Reference(p).ok());
  p.k = 100;
  EXPECT_FALSE(ValidateMoeGemmFp8(p).ok());
}

TEST(StreamGemmConfigTest, SplitsOnlyDenseUnderfilledShapes) {
  // The split counts the H100 sweep found fastest (moe_gemm_reference.cc), 132 SMs.
  // 32 experts × 32 row tiles: plenty of CTAs, never split.
  EXPECT_EQ(ChooseStreamGemmConfig(32, 256, 4096, 7168, 132, 1 << 30).splits, 1);
  // o_proj 7168×16384: 56 tiles → 2 splits (one CTA per SM), 64 K blocks each.
  const auto o = ChooseStreamGemmConfig(1, 8, 7168, 16384, 132, 1 << 30);
  EXPECT_EQ(o.splits, 2);
  EXPECT_EQ(o.workspace_bytes, 2 * 8 * 7168 * 4);
  // q_a_proj 1536×7168: 12 tiles, 56 K blocks → 7 splits of 8 blocks (not 11: ≥ 8 per split).
  EXPECT_EQ(ChooseStreamGemmConfig(1, 1, 1536, 7168, 132, 1 << 30).splits, 7);
  // Shared expert w13 4096×7168: 32 tiles → 4 splits.
  EXPECT_EQ(ChooseStreamGemmConfig(1, 1, 4096, 7168, 132, 1 << 30).splits, 4);
  // K of 16 blocks (shared w2, 7168×2048) or 12 (q_b_proj): not worth a reduction.
  EXPECT_EQ(ChooseStreamGemmConfig(1, 8, 7168, 2048, 132, 1 << 30).splits, 1);
  EXPECT_EQ(ChooseStreamGemmConfig(1, 1, 24576, 1536, 132, 1 << 30).splits, 1);
  // No workspace: no split.
  EXPECT_EQ(ChooseStreamGemmConfig(1, 8, 7168, 16384, 132, 0).splits, 1);
  // Enough tiles already (129280-row lm_head-like): no split.
  EXPECT_EQ(ChooseStreamGemmConfig(1, 8, 129280, 7168, 132, 1 << 30).splits, 1);
  // A non-dividing split count is trimmed so every split is non-empty: 5 tiles, 56 K blocks →
  // 7 splits of 8.
  EXPECT_EQ(ChooseStreamGemmConfig(1, 1, 576, 7168, 132, 1 << 30).splits, 7);
}

}  // namespace
}  // namespace r1::kernels
