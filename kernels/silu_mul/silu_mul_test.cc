// CPU reference test (runs everywhere): SiLU·mul against the formula.
#include "kernels/silu_mul/silu_mul.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"

namespace r1::kernels {
namespace {

TEST(SiluMulReferenceTest, Formula) {
  const float g[3] = {0.0f, 1.5f, -4.0f}, u[3] = {2.0f, -1.0f, 3.0f};
  std::vector<uint16_t> x(6);
  for (int i = 0; i < 3; ++i) x[i] = FloatToBf16(g[i]), x[3 + i] = FloatToBf16(u[i]);
  std::vector<uint16_t> out(3);
  ASSERT_TRUE(SiluMulReference({x.data(), 6, out.data(), 3, 1, 3}).ok());
  for (int i = 0; i < 3; ++i) {
    const double want = g[i] / (1 + std::exp(-double{g[i]})) * u[i];
    EXPECT_NEAR(Bf16ToFloat(out[i]), want, std::fabs(want) / 128 + 1e-6) << i;
  }
  EXPECT_FALSE(ValidateSiluMul({x.data(), 5, out.data(), 3, 1, 3}).ok());
}

}  // namespace
}  // namespace r1::kernels
