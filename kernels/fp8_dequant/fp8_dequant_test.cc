// CPU reference test (runs everywhere): the reference equals the spec §3.4 formula, including the
// partial last block row of a 576-row weight.
#include "kernels/fp8_dequant/fp8_dequant.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"

namespace r1::kernels {
namespace {

TEST(Fp8DequantReferenceTest, MatchesSpecFormulaOnOddShape) {
  const int64_t rows = 576, cols = 200;  // 5 block rows (last 64 tall), 2 block cols (last 72)
  std::mt19937 rng(1);
  std::vector<uint8_t> w(rows * cols);
  for (auto& b : w) b = static_cast<uint8_t>(rng() & 0xff) & 0xf7;  // no NaN codes
  std::vector<float> s(5 * 2);
  for (size_t i = 0; i < s.size(); ++i) s[i] = 0.001f * static_cast<float>(i + 1);
  std::vector<uint16_t> out(rows * cols);
  ASSERT_TRUE(Fp8DequantReference({w.data(), s.data(), out.data(), rows, cols}).ok());
  for (int64_t i = 0; i < rows; i += 7) {
    for (int64_t j = 0; j < cols; j += 3) {
      float want = Fp8E4m3ToFloat(w[i * cols + j]) * s[(i / 128) * 2 + (j / 128)];
      EXPECT_EQ(Bf16ToFloat(out[i * cols + j]), RoundToBf16(want)) << i << "," << j;
    }
  }
}

TEST(Fp8DequantReferenceTest, RejectsBadParams) {
  EXPECT_FALSE(Fp8DequantReference({}).ok());
  uint8_t w = 0;
  float s = 1;
  uint16_t o = 0;
  EXPECT_FALSE(Fp8DequantReference({&w, &s, &o, 0, 1}).ok());
}

}  // namespace
}  // namespace r1::kernels
