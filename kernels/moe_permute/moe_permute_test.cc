// CPU reference test (runs everywhere): stable permutation with dropped ids, the row and scale
// gathers, and the weighted combine against the formula.
#include "kernels/moe_permute/moe_permute.h"

#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"

namespace r1::kernels {
namespace {

TEST(MoePermuteReferenceTest, StableGroupingAndCombine) {
  // 3 tokens × top-2 over 3 experts; token 1 slot 1 routes to a remote expert (id 7).
  const std::vector<int32_t> ids = {2, 0, 0, 7, 2, 1};
  std::vector<int32_t> off(4), perm(6, -9), inv(6);
  MoePermuteParams p{ids.data(), 3, 2, 3, off.data(), perm.data(), inv.data()};
  ASSERT_TRUE(MoePermuteReference(p).ok());
  EXPECT_EQ(off, (std::vector<int32_t>{0, 2, 3, 5}));
  // expert 0: pairs 1 (t0 s1), 2 (t1 s0); expert 1: pair 5; expert 2: pairs 0, 4.
  EXPECT_EQ(std::vector<int32_t>(perm.begin(), perm.begin() + 5),
            (std::vector<int32_t>{1, 2, 5, 0, 4}));
  EXPECT_EQ(inv, (std::vector<int32_t>{3, 0, 1, -1, 4, 2}));

  // Gather 2-byte rows [t] = {10t, 10t+1} and a group-major scale [1][3] = {0.5, 1.5, 2.5}.
  std::vector<uint16_t> src = {0, 1, 10, 11, 20, 21};
  std::vector<uint16_t> dst(5 * 2);
  ASSERT_TRUE(MoeGatherRowsReference({reinterpret_cast<const uint8_t*>(src.data()), 4,
                                      reinterpret_cast<uint8_t*>(dst.data()), 4, 4, perm.data(), 2,
                                      5, nullptr})
                  .ok());
  EXPECT_EQ(dst, (std::vector<uint16_t>{0, 1, 10, 11, 20, 21, 0, 1, 20, 21}));
  const std::vector<float> ssrc = {0.5f, 1.5f, 2.5f};
  std::vector<float> sdst(6, -1.0f);
  const int32_t five = 5;
  ASSERT_TRUE(
      MoeGatherScalesReference({ssrc.data(), 3, sdst.data(), 6, 1, perm.data(), 2, 6, &five}).ok());
  EXPECT_EQ(sdst, (std::vector<float>{0.5f, 1.5f, 2.5f, 0.5f, 2.5f, -1.0f}));

  // Combine: y row r = r + 1 (dim 1); out[t] = add[t] + Σ_j w·y.
  std::vector<uint16_t> y(5), add = {FloatToBf16(100), FloatToBf16(200), FloatToBf16(300)};
  for (int r = 0; r < 5; ++r) y[r] = FloatToBf16(r + 1.0f);
  const std::vector<float> w = {0.5f, 2.0f, 1.0f, 9.0f, 0.25f, 4.0f};
  std::vector<uint16_t> out(3);
  ASSERT_TRUE(
      MoeCombineReference({y.data(), inv.data(), w.data(), add.data(), out.data(), 3, 2, 1}).ok());
  EXPECT_EQ(Bf16ToFloat(out[0]), 100 + 0.5f * 4 + 2.0f * 1);                // rows 3, 0
  EXPECT_EQ(Bf16ToFloat(out[1]), 200 + 1.0f * 2);                           // row 1; slot 1 dropped
  EXPECT_EQ(Bf16ToFloat(out[2]), RoundToBf16(300 + 0.25f * 5 + 4.0f * 3));  // rows 4, 2
}

}  // namespace
}  // namespace r1::kernels
