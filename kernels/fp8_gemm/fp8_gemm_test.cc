// CPU reference test (runs everywhere): the reference against an independent double-precision
// formula (576-row weight, padded scale rows), and the pure backend choice.
#include "kernels/fp8_gemm/fp8_gemm.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

TEST(Fp8GemmReferenceTest, MatchesDoubleFormula) {
  std::mt19937 rng(5);
  const int64_t m = 3, n = 576, k = 384, xld = 4, wld = 4, nb = 5;
  auto x = testing::RandomFp8(m * k, rng);
  auto xs = testing::RandomFloat(3 * xld, rng, 0.01f, 0.1f);
  auto w = testing::RandomFp8(n * k, rng);
  auto ws = testing::RandomFloat(nb * wld, rng, 1e-3f, 1e-2f);
  std::vector<uint16_t> out(m * (n + 8));
  Fp8GemmParams p{x.data(), xs.data(), xld, w.data(), ws.data(), wld, out.data(), n + 8, m, n, k};
  ASSERT_TRUE(Fp8GemmReference(p).ok());
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; j += 5) {
      double acc = 0;
      for (int64_t c = 0; c < k; ++c) {
        acc += double{Fp8E4m3ToFloat(x[i * k + c])} * xs[(c / 128) * xld + i] *
               Fp8E4m3ToFloat(w[j * k + c]) * ws[(j / 128) * wld + c / 128];
      }
      EXPECT_NEAR(Bf16ToFloat(out[i * (n + 8) + j]), acc, std::fabs(acc) * 8e-3 + 1e-4);
    }
  }
}

TEST(Fp8GemmBackendTest, Choice) {
  const auto* a = reinterpret_cast<const uint8_t*>(uintptr_t{1} << 20);
  const auto* s = reinterpret_cast<const float*>(uintptr_t{1} << 21);
  auto* o = reinterpret_cast<uint16_t*>(uintptr_t{1} << 22);
  Fp8GemmParams p{a, s, 128, a, s, Fp8GemmWeightScaleLd(7168), o, 2048, 128, 2048, 7168};
  EXPECT_EQ(ChooseFp8GemmBackend(p), Fp8GemmBackend::kCublasLt);
  p.m = p.x_scale_ld = 32;
  EXPECT_EQ(ChooseFp8GemmBackend(p), Fp8GemmBackend::kStream);  // decode-sized m
  p.m = p.x_scale_ld = 102;
  EXPECT_EQ(ChooseFp8GemmBackend(p), Fp8GemmBackend::kStream);  // m % 4 != 0
  p.m = 100, p.x_scale_ld = 104;
  EXPECT_EQ(ChooseFp8GemmBackend(p), Fp8GemmBackend::kStream);  // scale stride ≠ m
  p.x_scale_ld = 100, p.w_scale_ld = 57;
  EXPECT_EQ(ChooseFp8GemmBackend(p), Fp8GemmBackend::kStream);  // unpadded weight scales
  p.w_scale_ld = 56, p.x = a + 8;
  EXPECT_EQ(ChooseFp8GemmBackend(p), Fp8GemmBackend::kStream);  // misaligned
  EXPECT_EQ(Fp8GemmWeightScaleLd(384), 4);
  EXPECT_EQ(Fp8GemmWeightScaleLd(18432), 144);
}

TEST(Fp8GemmReferenceTest, Validation) {
  Fp8GemmParams p;
  EXPECT_FALSE(ValidateFp8Gemm(p).ok());
}

}  // namespace
}  // namespace r1::kernels
