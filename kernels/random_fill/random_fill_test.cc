// CPU reference test (runs everywhere): the value formula and its (row, column) ↔ (offset, index)
// mapping, the range before encoding, zero padding rows and columns, untouched [cols, ld),
// determinism and seed sensitivity, mean and variance over a large fill, the bf16 and e4m3
// encodings of the f32 values (e4m3 saturating), and validation.
#include "kernels/random_fill/random_fill.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/sampling/sampling.h"

namespace r1::kernels {
namespace {

RandomFillParams Params(void* out, FillDtype dtype, int64_t rows, int64_t cols, int64_t ld,
                        uint64_t seed, float amplitude, float offset) {
  RandomFillParams p;
  p.out = out;
  p.dtype = dtype;
  p.rows = rows;
  p.cols = cols;
  p.ld = ld;
  p.seed = seed;
  p.amplitude = amplitude;
  p.offset = offset;
  return p;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(RandomFillReferenceTest, ValueFormulaAndIndexMapping) {
  // 3 × 5 in a stride of 6; element (r, c) must use SamplingUniform(seed, offset = r, index = c).
  std::vector<float> out(3 * 6, -7.0f);
  auto p = Params(out.data(), FillDtype::kF32, 3, 5, 6, 42, 0.25f, 1.5f);
  ASSERT_TRUE(RandomFillReference(p).ok());
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 5; ++c) {
      const float u = SamplingUniform(42, static_cast<uint64_t>(r), static_cast<uint32_t>(c));
      ASSERT_GT(u, 0.0f);
      ASSERT_LT(u, 1.0f);
      const double want = 1.5 + 0.25 * (2.0 * u - 1.0);  // exact in double, rounded once below
      EXPECT_EQ(Bits(out[r * 6 + c]), Bits(static_cast<float>(want))) << r << "," << c;
    }
    EXPECT_EQ(out[r * 6 + 5], -7.0f);  // [cols, ld) untouched
  }
  // Rows and columns are not interchangeable: (0, 1) and (1, 0) differ.
  EXPECT_NE(out[1], out[6]);
}

TEST(RandomFillReferenceTest, RangeBeforeEncoding) {
  const int64_t rows = 64, cols = 1000;
  std::vector<float> f(rows * cols);
  ASSERT_TRUE(
      RandomFillReference(Params(f.data(), FillDtype::kF32, rows, cols, cols, 3, 0.5f, 2.0f)).ok());
  for (float v : f) {
    ASSERT_GE(v, 1.5f);
    ASSERT_LE(v, 2.5f);
  }
  // A negative amplitude mirrors the range; bf16 values stay within the rounded bounds.
  std::vector<uint16_t> b(rows * cols);
  ASSERT_TRUE(
      RandomFillReference(Params(b.data(), FillDtype::kBf16, rows, cols, cols, 3, -0.03f, -0.01f))
          .ok());
  const float lo = RoundToBf16(-0.01f - 0.03f), hi = RoundToBf16(-0.01f + 0.03f);
  for (uint16_t x : b) {
    ASSERT_GE(Bf16ToFloat(x), lo);
    ASSERT_LE(Bf16ToFloat(x), hi);
  }
}

TEST(RandomFillReferenceTest, PaddingRowsAndColumnsAreZeroAndLdTailUntouched) {
  for (FillDtype d : {FillDtype::kBf16, FillDtype::kF32, FillDtype::kE4m3}) {
    const int64_t rows = 9, cols = 11, ld = 16, es = FillDtypeBytes(d);
    std::vector<uint8_t> buf(rows * ld * es, 0xA5);
    auto p = Params(buf.data(), d, rows, cols, ld, 9, 1.0f, 3.0f);  // values in [2, 4]: never 0
    p.valid_rows = 6;
    p.valid_cols = 7;
    ASSERT_TRUE(RandomFillReference(p).ok());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < ld; ++c) {
        bool all_zero = true, all_sentinel = true;
        for (int64_t k = 0; k < es; ++k) {
          const uint8_t byte = buf[(r * ld + c) * es + k];
          all_zero &= byte == 0;
          all_sentinel &= byte == 0xA5;
        }
        if (c >= cols) {
          EXPECT_TRUE(all_sentinel) << static_cast<int>(d) << " " << r << "," << c;
        } else if (r >= 6 || c >= 7) {
          EXPECT_TRUE(all_zero) << static_cast<int>(d) << " " << r << "," << c;
        } else {
          EXPECT_FALSE(all_zero) << static_cast<int>(d) << " " << r << "," << c;
          EXPECT_FALSE(all_sentinel) << static_cast<int>(d) << " " << r << "," << c;
        }
      }
    }
  }
  // valid_rows = 0 and valid_cols = 0 zero everything in [0, cols).
  std::vector<float> f(4 * 4, 5.0f);
  auto p = Params(f.data(), FillDtype::kF32, 4, 3, 4, 1, 1.0f, 3.0f);
  p.valid_cols = 0;
  ASSERT_TRUE(RandomFillReference(p).ok());
  for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(f[i], i % 4 == 3 ? 5.0f : 0.0f) << i;
  std::fill(f.begin(), f.end(), 5.0f);
  p.valid_cols = -1;
  p.valid_rows = 0;
  ASSERT_TRUE(RandomFillReference(p).ok());
  for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(f[i], i % 4 == 3 ? 5.0f : 0.0f) << i;
}

TEST(RandomFillReferenceTest, DeterministicPerSeedAndSeedsDiffer) {
  const int64_t rows = 32, cols = 257;
  std::vector<float> a(rows * cols), b(rows * cols), c(rows * cols);
  ASSERT_TRUE(
      RandomFillReference(Params(a.data(), FillDtype::kF32, rows, cols, cols, 77, 1, 0)).ok());
  ASSERT_TRUE(
      RandomFillReference(Params(b.data(), FillDtype::kF32, rows, cols, cols, 77, 1, 0)).ok());
  ASSERT_TRUE(
      RandomFillReference(Params(c.data(), FillDtype::kF32, rows, cols, cols, 78, 1, 0)).ok());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == c[i];
  EXPECT_LT(same, static_cast<int64_t>(a.size() / 1000) + 2);  // 2^-23 chance per element
  // Neighbouring rows and columns are not copies of one another.
  int64_t same_row = 0, same_col = 0;
  for (int64_t r = 0; r + 1 < rows; ++r) {
    for (int64_t k = 0; k + 1 < cols; ++k) {
      same_row += a[r * cols + k] == a[(r + 1) * cols + k];
      same_col += a[r * cols + k] == a[r * cols + k + 1];
    }
  }
  EXPECT_LT(same_row, 3);
  EXPECT_LT(same_col, 3);
}

TEST(RandomFillReferenceTest, MeanAndVarianceOverALargeFill) {
  const int64_t rows = 1024, cols = 1024;
  const float amplitude = 0.75f, offset = -0.2f;
  std::vector<float> f(rows * cols);
  ASSERT_TRUE(RandomFillReference(
                  Params(f.data(), FillDtype::kF32, rows, cols, cols, 2024, amplitude, offset))
                  .ok());
  double sum = 0, sum2 = 0;
  for (float v : f) sum += v;
  const double n = static_cast<double>(f.size());
  const double mean = sum / n;
  for (float v : f) sum2 += (v - mean) * (v - mean);
  const double var = sum2 / (n - 1);
  // Standard errors: amplitude·√(1/3n) ≈ 4.2e-4 for the mean, amplitude²·√(4/45n) ≈ 1.6e-4 for
  // the variance; the bounds are ~10 of them.
  EXPECT_NEAR(mean, offset, 5e-3);
  EXPECT_NEAR(var, amplitude * amplitude / 3.0, 2e-3);
}

TEST(RandomFillReferenceTest, Bf16AndE4m3EncodeTheF32Values) {
  const int64_t rows = 17, cols = 300;
  for (float amplitude : {0.05f, 1000.0f}) {  // 1000: past e4m3's ±448, so saturation shows
    std::vector<float> f(rows * cols);
    std::vector<uint16_t> b(rows * cols);
    std::vector<uint8_t> e(rows * cols);
    ASSERT_TRUE(
        RandomFillReference(Params(f.data(), FillDtype::kF32, rows, cols, cols, 5, amplitude, 0))
            .ok());
    ASSERT_TRUE(
        RandomFillReference(Params(b.data(), FillDtype::kBf16, rows, cols, cols, 5, amplitude, 0))
            .ok());
    ASSERT_TRUE(
        RandomFillReference(Params(e.data(), FillDtype::kE4m3, rows, cols, cols, 5, amplitude, 0))
            .ok());
    int64_t saturated = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      ASSERT_EQ(b[i], FloatToBf16(f[i])) << i;
      ASSERT_EQ(e[i], FloatToFp8E4m3(f[i])) << i;
      ASSERT_NE(e[i] & 0x7f, 0x7f) << i;  // never the NaN code
      if (std::fabs(f[i]) >= 448.0f) {
        ASSERT_EQ(Fp8E4m3ToFloat(e[i]), std::copysign(448.0f, f[i])) << i;
        ++saturated;
      }
    }
    if (amplitude > 448.0f) {
      EXPECT_GT(saturated, static_cast<int64_t>(f.size() / 3));
    }
  }
}

TEST(RandomFillReferenceTest, Validation) {
  float buf[64] = {};
  auto ok = Params(buf, FillDtype::kF32, 4, 8, 8, 0, 1, 0);
  EXPECT_TRUE(ValidateRandomFill(ok).ok());
  auto p = ok;
  p.out = nullptr;
  EXPECT_FALSE(ValidateRandomFill(p).ok());
  p.rows = 0;  // an empty tensor needs no buffer
  EXPECT_TRUE(ValidateRandomFill(p).ok());
  EXPECT_TRUE(RandomFillReference(p).ok());
  p = ok;
  p.rows = -1;
  EXPECT_FALSE(ValidateRandomFill(p).ok());
  p = ok;
  p.cols = 0;
  EXPECT_FALSE(ValidateRandomFill(p).ok());
  p = ok;
  p.ld = 7;
  EXPECT_FALSE(ValidateRandomFill(p).ok());
  p = ok;
  p.cols = (int64_t{1} << 32) + 1;
  p.ld = p.cols;
  p.rows = 1;
  EXPECT_FALSE(ValidateRandomFill(p).ok());  // column index past SamplingUniform's 32 bits
  p = ok;
  p.ld = std::numeric_limits<int64_t>::max() / 2;
  EXPECT_FALSE(ValidateRandomFill(p).ok());  // rows·ld·4 overflows
  for (int64_t vr : {-2, 5}) {
    p = ok;
    p.valid_rows = vr;
    EXPECT_FALSE(ValidateRandomFill(p).ok()) << vr;
  }
  for (int64_t vc : {-2, 9}) {
    p = ok;
    p.valid_cols = vc;
    EXPECT_FALSE(ValidateRandomFill(p).ok()) << vc;
  }
  p = ok;
  p.valid_rows = 4;
  p.valid_cols = 8;
  EXPECT_TRUE(ValidateRandomFill(p).ok());
  p.valid_rows = 0;
  p.valid_cols = 0;
  EXPECT_TRUE(ValidateRandomFill(p).ok());
  p = ok;
  p.amplitude = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(ValidateRandomFill(p).ok());
  p = ok;
  p.offset = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(ValidateRandomFill(p).ok());
  p = ok;
  p.dtype = static_cast<FillDtype>(7);
  EXPECT_FALSE(ValidateRandomFill(p).ok());
  p = ok;
  p.out = reinterpret_cast<char*>(buf) + 2;  // f32 needs 4-byte alignment
  EXPECT_FALSE(ValidateRandomFill(p).ok());
  p.dtype = FillDtype::kBf16;
  EXPECT_TRUE(ValidateRandomFill(p).ok());
  // The reference refuses what validation refuses and writes nothing.
  p = ok;
  p.ld = 7;
  buf[0] = 9.0f;
  EXPECT_FALSE(RandomFillReference(p).ok());
  EXPECT_EQ(buf[0], 9.0f);
}

}  // namespace
}  // namespace r1::kernels
