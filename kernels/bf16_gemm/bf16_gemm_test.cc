// CPU reference test (runs everywhere): the BF16 GEMM reference against a double formula.
#include "kernels/bf16_gemm/bf16_gemm.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

TEST(Bf16GemmReferenceTest, MatchesDoubleFormula) {
  std::mt19937 rng(4);
  const int64_t m = 3, n = 5, k = 70;
  auto x = testing::RandomBf16(m * 72, rng);
  auto w = testing::RandomBf16(n * k, rng);
  std::vector<float> out(m * 8);
  Bf16GemmParams p{x.data(), 72, w.data(), k, nullptr, out.data(), 8, m, n, k};
  ASSERT_TRUE(Bf16GemmReference(p).ok());
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t c = 0; c < k; ++c)
        acc += double{Bf16ToFloat(x[i * 72 + c])} * Bf16ToFloat(w[j * k + c]);
      EXPECT_NEAR(out[i * 8 + j], acc, 1e-4);
    }
  }
  p.out_bf16 = reinterpret_cast<uint16_t*>(out.data());
  EXPECT_FALSE(ValidateBf16Gemm(p).ok());  // both outputs set
}

}  // namespace
}  // namespace r1::kernels
