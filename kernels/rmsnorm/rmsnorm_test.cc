// CPU reference test (runs everywhere): RMSNorm by hand, the fused residual, strided rows.
#include "kernels/rmsnorm/rmsnorm.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"

namespace r1::kernels {
namespace {

TEST(RmsNormReferenceTest, ByHandWithResidual) {
  // Row of 3 used values in a stride of 4: x = [1, 2, 2], residual = [2, 2, 1] → h = [3, 4, 3].
  std::vector<uint16_t> x = {FloatToBf16(1), FloatToBf16(2), FloatToBf16(2), 0x7fc0};
  std::vector<uint16_t> res = {FloatToBf16(2), FloatToBf16(2), FloatToBf16(1)};
  std::vector<uint16_t> w = {FloatToBf16(1), FloatToBf16(2), FloatToBf16(0.5f)};
  std::vector<uint16_t> out(3);
  RmsNormParams p{x.data(), 4, res.data(), 3, w.data(), out.data(), 3, 1, 3, 0.0f};
  ASSERT_TRUE(RmsNormReference(p).ok());
  EXPECT_EQ(Bf16ToFloat(res[0]), 3.0f);
  EXPECT_EQ(Bf16ToFloat(res[1]), 4.0f);
  EXPECT_EQ(Bf16ToFloat(res[2]), 3.0f);
  const double inv = 1.0 / std::sqrt((9.0 + 16.0 + 9.0) / 3.0);
  EXPECT_EQ(Bf16ToFloat(out[0]), RoundToBf16(static_cast<float>(3 * inv)));
  EXPECT_EQ(Bf16ToFloat(out[1]), RoundToBf16(static_cast<float>(2 * 4 * inv)));
  EXPECT_EQ(Bf16ToFloat(out[2]), RoundToBf16(static_cast<float>(0.5 * 3 * inv)));
}

TEST(RmsNormReferenceTest, Validation) {
  uint16_t x[8] = {}, w[8] = {}, o[8] = {};
  EXPECT_FALSE(ValidateRmsNorm({x, 4, nullptr, 0, w, o, 8, 1, 8, 1e-6f}).ok());  // stride < n
  EXPECT_TRUE(ValidateRmsNorm({x, 8, nullptr, 0, w, o, 8, 1, 8, 1e-6f}).ok());
  EXPECT_TRUE(ValidateRmsNorm({nullptr, 8, nullptr, 0, nullptr, nullptr, 8, 0, 8, 1e-6f}).ok());
}

}  // namespace
}  // namespace r1::kernels
