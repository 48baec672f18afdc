// CPU reference test (runs everywhere): a hand-computed two-token case, paging and the
// concatenated query layout against a dense recomputation, bf16 output, and the split choice;
// the FP8 cache: its row layout, the reference on it equal to the reference on the dequantised
// BF16 cache, its accuracy against the BF16 cache, validation, and the backend choice.
#include "kernels/mla_decode/mla_decode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"
#include "kernels/kv_write/kv_write.h"

namespace r1::kernels {
namespace {

TEST(MlaDecodeReferenceTest, TwoTokensByHand) {
  // One head; token 0's latent is all 1, token 1's all 2; query latent e_0, rope zero.
  std::vector<uint16_t> cache(2 * kMlaPageTokens * kMlaCacheDim, 0);
  for (int i = 0; i < kMlaLatentDim; ++i) {
    cache[i] = FloatToBf16(1.0f);
    cache[kMlaCacheDim + i] = FloatToBf16(2.0f);
  }
  std::vector<uint16_t> q(kMlaCacheDim, 0);
  q[0] = FloatToBf16(1.0f);
  const int32_t table[1] = {0}, lens[1] = {2};
  std::vector<float> out(kMlaLatentDim);
  MlaDecodeParams p;
  p.q_latent = q.data();
  p.q_rope = q.data() + kMlaLatentDim;
  p.q_batch_stride = p.q_head_stride = kMlaCacheDim;
  p.kv_cache = cache.data();
  p.num_pages = 2;
  p.block_table = table;
  p.block_table_stride = 1;
  p.seq_lens = lens;
  p.out = out.data();
  p.batch = 1;
  p.heads = 1;
  p.softmax_scale = 0.5f;
  ASSERT_TRUE(MlaDecodeReference(p).ok());
  // scores 0.5·1, 0.5·2 → weights 1/(1+e^0.5), e^0.5/(1+e^0.5); output = w0·1 + w1·2.
  const double w1 = std::exp(0.5) / (1 + std::exp(0.5));
  for (float v : out) EXPECT_NEAR(v, (1 - w1) + 2 * w1, 1e-6);
}

TEST(MlaDecodeReferenceTest, PagedEqualsDense) {
  std::mt19937 rng(1);
  const int64_t heads = 3, len = 150, pages = 5;
  auto cache = testing::RandomBf16(pages * kMlaPageTokens * kMlaCacheDim, rng);
  auto q = testing::RandomBf16(heads * kMlaCacheDim, rng, 0.2f);
  const int32_t table[3] = {4, 0, 2}, lens[1] = {len};
  std::vector<float> out(heads * kMlaLatentDim);
  std::vector<uint16_t> out16(heads * kMlaLatentDim);
  MlaDecodeParams p;
  p.q_latent = q.data();
  p.q_rope = q.data() + kMlaLatentDim;
  p.q_batch_stride = heads * kMlaCacheDim;
  p.q_head_stride = kMlaCacheDim;
  p.kv_cache = cache.data();
  p.num_pages = pages;
  p.block_table = table;
  p.block_table_stride = 3;
  p.seq_lens = lens;
  p.out = out.data();
  p.batch = 1;
  p.heads = heads;
  p.softmax_scale = 0.13523378f;
  ASSERT_TRUE(MlaDecodeReference(p).ok());
  for (int64_t h = 0; h < heads; ++h) {
    std::vector<double> sc(len);
    double mx = -1e300;
    for (int64_t s = 0; s < len; ++s) {
      const uint16_t* row = cache.data() + (table[s / 64] * 64 + s % 64) * kMlaCacheDim;
      double dot = 0;
      for (int i = 0; i < kMlaCacheDim; ++i) {
        dot += double{Bf16ToFloat(q[h * kMlaCacheDim + i])} * Bf16ToFloat(row[i]);
      }
      sc[s] = dot * 0.13523378;
      mx = std::max(mx, sc[s]);
    }
    double z = 0;
    for (auto& v : sc) z += (v = std::exp(v - mx));
    for (int d = 0; d < kMlaLatentDim; d += 37) {
      double acc = 0;
      for (int64_t s = 0; s < len; ++s) {
        acc += sc[s] / z * Bf16ToFloat(cache[(table[s / 64] * 64 + s % 64) * kMlaCacheDim + d]);
      }
      EXPECT_NEAR(out[h * kMlaLatentDim + d], acc, 1e-4) << h << "," << d;
    }
  }
  p.out = nullptr;
  p.out_bf16 = out16.data();
  ASSERT_TRUE(MlaDecodeReference(p).ok());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out16[i], FloatToBf16(out[i]));
  const int32_t bad_table[3] = {4, 9, 2};
  p.block_table = bad_table;
  EXPECT_FALSE(MlaDecodeReference(p).ok());  // page id out of range
}

TEST(MlaDecodeConfigTest, Splits) {
  // 64 sequences × 2 head groups = 128 CTAs fill 132 SMs: no split.
  EXPECT_EQ(ChooseMlaDecodeConfig(64, 128, 4096, 132).splits, 1);
  // One sequence: spread its 64 pages over the SMs.
  const auto c = ChooseMlaDecodeConfig(1, 128, 4096, 132);
  EXPECT_GE(c.splits, 32);
  EXPECT_EQ(c.workspace_bytes, MlaDecodeWorkspaceBytes(1, 128, c.splits));
  // Short sequences never split below one page per split.
  EXPECT_EQ(ChooseMlaDecodeConfig(4, 128, 64, 132).splits, 1);
  EXPECT_LE(ChooseMlaDecodeConfig(4, 128, 300, 132).splits, 5);
  EXPECT_EQ(MlaDecodeWorkspaceBytes(2, 128, 1), 0u);
}

TEST(MlaDecodeBackendTest, WhatCanRun) {
  // heads % 64 != 0: only FlashInfer (bf16 output) can run it; otherwise neither.
  EXPECT_EQ(ChooseMlaDecodeBackend(8, 16, 4096, true, true), MlaDecodeBackend::kFlashInfer);
  EXPECT_EQ(ChooseMlaDecodeBackend(8, 16, 4096, true, false), MlaDecodeBackend::kNone);
  EXPECT_EQ(ChooseMlaDecodeBackend(8, 16, 4096, false, true), MlaDecodeBackend::kNone);
  EXPECT_EQ(ChooseMlaDecodeBackend(8, 0, 4096, true, true), MlaDecodeBackend::kNone);
  // FlashInfer absent or f32 output: ours.
  EXPECT_EQ(ChooseMlaDecodeBackend(8, 128, 4096, false, true), MlaDecodeBackend::kOurs);
  EXPECT_EQ(ChooseMlaDecodeBackend(8, 128, 4096, true, false), MlaDecodeBackend::kOurs);
  EXPECT_STREQ(MlaDecodeBackendName(MlaDecodeBackend::kFlashInfer), "flashinfer");
}

TEST(MlaDecodeBackendTest, NearestMeasuredShapeDecides) {
  const MlaDecodeTiming t[] = {
      {1, 128, 1024, 20.0, 10.0},      // FlashInfer twice as fast
      {1, 128, 16384, 50.0, 49.0},     // within the margin: ours
      {64, 128, 4096, 180.0, 120.0},   // FlashInfer
      {256, 128, 4096, 700.0, 900.0},  // ours
      {64, 64, 4096, 0.0, 0.0},        // unmeasured
  };
  auto choose = [&](int64_t b, int64_t h, int64_t ctx) {
    return ChooseMlaDecodeBackend(b, h, ctx, true, true, MlaKvDtype::kBf16, t);
  };
  EXPECT_EQ(choose(1, 128, 1024), MlaDecodeBackend::kFlashInfer);
  EXPECT_EQ(choose(2, 128, 800), MlaDecodeBackend::kFlashInfer);  // nearest: (1, 1024)
  EXPECT_EQ(choose(1, 128, 16384), MlaDecodeBackend::kOurs);
  EXPECT_EQ(choose(1, 128, 100000), MlaDecodeBackend::kOurs);  // nearest: (1, 16384)
  EXPECT_EQ(choose(64, 128, 4096), MlaDecodeBackend::kFlashInfer);
  EXPECT_EQ(choose(50, 128, 5000), MlaDecodeBackend::kFlashInfer);
  EXPECT_EQ(choose(256, 128, 4096), MlaDecodeBackend::kOurs);
  EXPECT_EQ(choose(1000, 128, 4096), MlaDecodeBackend::kOurs);
  EXPECT_EQ(choose(64, 64, 4096), MlaDecodeBackend::kOurs);   // row unmeasured
  EXPECT_EQ(choose(64, 192, 4096), MlaDecodeBackend::kOurs);  // no row for 192 heads
  // The checked-in table lists the bench's shapes at 128 heads, all measured.
  const auto table = MlaDecodeTimings();
  ASSERT_EQ(table.size(), 12u);
  for (const MlaDecodeTiming& r : table) {
    EXPECT_EQ(r.heads, 128);
    EXPECT_GT(r.ours_us, 0.0);
    EXPECT_GT(r.flashinfer_us, 0.0);
  }
}

// With the measured table (H100, 2026-12-07) FlashInfer wins at R1's decode shapes, and ours
// stays the choice where FlashInfer cannot run.
TEST(MlaDecodeBackendTest, MeasuredTablePicksFlashInferForR1Decode) {
  for (int64_t batch : {1, 8, 64, 128, 256}) {
    for (int64_t ctx : {512, 2048, 8192, 32768}) {
      EXPECT_EQ(ChooseMlaDecodeBackend(batch, 128, ctx, true, true), MlaDecodeBackend::kFlashInfer)
          << batch << " " << ctx;
      EXPECT_EQ(ChooseMlaDecodeBackend(batch, 128, ctx, false, true), MlaDecodeBackend::kOurs);
      EXPECT_EQ(ChooseMlaDecodeBackend(batch, 128, ctx, true, false), MlaDecodeBackend::kOurs);
    }
  }
}

// Accuracy bound of the FP8 cache against the BF16 cache on random data (normal cache, queries
// with σ = 0.3, R1's softmax scale): e4m3 keeps 3 mantissa bits, so each c_kv value moves by ~2.5%
// rms, and the output by the V error plus the score error it causes: measured rel-L2 0.027,
// max-abs 0.032·max|ref| here. The bounds leave ~2–3× margin; a wrong scale, group or byte offset
// gives O(0.1–1). The GPU test (mla_decode_gpu_test.cc) uses the same bounds.
constexpr double kFp8RelL2Bound = 0.06;
constexpr double kFp8MaxAbsBound = 0.1;  // times max|BF16-cache output|

TEST(MlaDecodeFp8Test, RowLayout) {
  std::mt19937 rng(3);
  auto row = testing::RandomBf16(kMlaCacheDim, rng);
  for (int i = 128; i < 256; ++i) row[i] = 0;  // group 1 all zero: the amax floor, no NaN
  row[300] = FloatToBf16(-1000.0f);            // group 2's amax, negative
  std::vector<uint8_t> q(kMlaFp8RowBytes, 0xaa);
  QuantizeMlaFp8Row(row.data(), q.data());
  EXPECT_EQ(kMlaFp8RowBytes, 656);
  for (int g = 0; g < 4; ++g) {
    float amax = 0;
    for (int i = 0; i < 128; ++i) amax = std::max(amax, std::fabs(Bf16ToFloat(row[g * 128 + i])));
    float s;
    std::memcpy(&s, q.data() + 512 + 4 * g, 4);
    EXPECT_EQ(s, std::max(amax, 1e-4f) / 448.0f) << g;
  }
  EXPECT_EQ(q[300], 0xfe);  // -448
  for (int i = 128; i < 256; ++i) EXPECT_EQ(q[i], 0) << i;
  EXPECT_EQ(std::memcmp(q.data() + 528, row.data() + 512, 128), 0);  // k_rope verbatim
  std::vector<float> d(kMlaCacheDim);
  DequantizeMlaFp8Row(q.data(), d.data());
  for (int i = 0; i < kMlaCacheDim; ++i) {
    const float v = Bf16ToFloat(row[i]);
    if (i >= kMlaLatentDim) {
      EXPECT_EQ(d[i], v) << i;
      continue;
    }
    float s;
    std::memcpy(&s, q.data() + 512 + 4 * (i / 128), 4);
    EXPECT_EQ(d[i], RoundToBf16(Fp8E4m3ToFloat(q[i]) * s)) << i;
    // e4m3: relative step 2^-3 (error ≤ 2^-4·|v|), subnormal step 2^-9·s; then one bf16 rounding.
    EXPECT_LE(std::fabs(d[i] - v), 0.0625f * std::fabs(v) + s / 512 + std::fabs(v) / 256) << i;
  }
}

// Helper: the inputs of PagedEqualsDense with several sequences and the FP8 cache beside it.
struct Fp8Case {
  std::vector<uint16_t> cache, q;
  std::vector<uint8_t> cache_fp8;
  std::vector<int32_t> table, lens;
  int64_t heads = 0, pages = 0, bt = 0;
  MlaDecodeParams Params(MlaKvDtype dtype, float* out) const {
    MlaDecodeParams p;
    p.q_latent = q.data();
    p.q_rope = q.data() + kMlaLatentDim;
    p.q_batch_stride = heads * kMlaCacheDim;
    p.q_head_stride = kMlaCacheDim;
    p.kv_dtype = dtype;
    if (dtype == MlaKvDtype::kFp8) {
      p.kv_cache_fp8 = cache_fp8.data();
    } else {
      p.kv_cache = cache.data();
    }
    p.num_pages = pages;
    p.block_table = table.data();
    p.block_table_stride = bt;
    p.seq_lens = lens.data();
    p.out = out;
    p.batch = static_cast<int64_t>(lens.size());
    p.heads = heads;
    p.softmax_scale = 0.13523378f;
    return p;
  }
};

Fp8Case MakeFp8Case(unsigned seed) {
  std::mt19937 rng(seed);
  Fp8Case c;
  c.heads = 4;
  c.lens = {150, 1, 64, 300};
  c.bt = 5;
  c.pages = 4 * c.bt + 1;
  c.table.resize(4 * c.bt);
  std::iota(c.table.begin(), c.table.end(), 1);
  std::shuffle(c.table.begin(), c.table.end(), rng);
  c.cache = testing::RandomBf16(c.pages * kMlaPageTokens * kMlaCacheDim, rng);
  c.q = testing::RandomBf16(c.lens.size() * c.heads * kMlaCacheDim, rng, 0.3f);
  // Quantise every row through the FP8 write (identity slots).
  c.cache_fp8.assign(c.pages * kMlaPageTokens * kMlaFp8RowBytes, 0);
  std::vector<int32_t> slots(c.pages * kMlaPageTokens);
  std::iota(slots.begin(), slots.end(), 0);
  const KvWriteFp8Params w{c.cache.data(),     kMlaCacheDim, slots.data(),
                           c.cache_fp8.data(), c.pages,      c.pages * kMlaPageTokens};
  EXPECT_TRUE(KvWriteFp8Reference(w).ok());
  return c;
}

TEST(MlaDecodeFp8Test, EqualsReferenceOnDequantisedCache) {
  const Fp8Case c = MakeFp8Case(5);
  const size_t n = c.lens.size() * c.heads * kMlaLatentDim;
  std::vector<float> got(n), want(n);
  ASSERT_TRUE(MlaDecodeReference(c.Params(MlaKvDtype::kFp8, got.data())).ok());
  // The dequantised rows are bf16 values: a BF16 cache holding them gives the same output.
  Fp8Case d = c;
  std::vector<float> row(kMlaCacheDim);
  for (int64_t r = 0; r < c.pages * kMlaPageTokens; ++r) {
    DequantizeMlaFp8Row(c.cache_fp8.data() + r * kMlaFp8RowBytes, row.data());
    for (int i = 0; i < kMlaCacheDim; ++i) {
      d.cache[r * kMlaCacheDim + i] = FloatToBf16(row[i]);
      ASSERT_EQ(Bf16ToFloat(d.cache[r * kMlaCacheDim + i]), row[i]);
    }
  }
  ASSERT_TRUE(MlaDecodeReference(d.Params(MlaKvDtype::kBf16, want.data())).ok());
  EXPECT_EQ(got, want);
}

TEST(MlaDecodeFp8Test, AccuracyAgainstBf16Cache) {
  const Fp8Case c = MakeFp8Case(6);
  const size_t n = c.lens.size() * c.heads * kMlaLatentDim;
  std::vector<float> fp8(n), bf16(n);
  ASSERT_TRUE(MlaDecodeReference(c.Params(MlaKvDtype::kFp8, fp8.data())).ok());
  ASSERT_TRUE(MlaDecodeReference(c.Params(MlaKvDtype::kBf16, bf16.data())).ok());
  const auto e = testing::Compare(fp8, bf16);
  std::cout << "mla_decode reference fp8 vs bf16 cache: " << e.ToString() << "\n";
  EXPECT_FALSE(e.non_finite);
  EXPECT_GT(e.rel_l2, 1e-3);  // the FP8 path really quantised
  EXPECT_LT(e.rel_l2, kFp8RelL2Bound);
  EXPECT_LT(e.max_abs, kFp8MaxAbsBound * e.max_ref);
}

TEST(MlaDecodeFp8Test, Validation) {
  const Fp8Case c = MakeFp8Case(7);
  std::vector<float> out(c.lens.size() * c.heads * kMlaLatentDim);
  const MlaDecodeParams ok8 = c.Params(MlaKvDtype::kFp8, out.data());
  const MlaDecodeParams ok16 = c.Params(MlaKvDtype::kBf16, out.data());
  EXPECT_TRUE(ValidateMlaDecode(ok8).ok());
  EXPECT_TRUE(ValidateMlaDecode(ok16).ok());
  MlaDecodeParams p = ok8;
  p.kv_cache = c.cache.data();  // both set
  EXPECT_EQ(MlaDecodeReference(p).code(), absl::StatusCode::kInvalidArgument);
  p = ok8;
  p.kv_cache_fp8 = nullptr;  // fp8 without its cache
  EXPECT_EQ(MlaDecodeReference(p).code(), absl::StatusCode::kInvalidArgument);
  p = ok16;
  p.kv_cache_fp8 = c.cache_fp8.data();  // both set
  EXPECT_FALSE(ValidateMlaDecode(p).ok());
  p = ok16;
  p.kv_dtype = MlaKvDtype::kFp8;  // the bf16 pointer under the fp8 dtype
  EXPECT_FALSE(ValidateMlaDecode(p).ok());
  p = ok8;
  p.kv_dtype = static_cast<MlaKvDtype>(7);
  EXPECT_FALSE(ValidateMlaDecode(p).ok());
  EXPECT_STREQ(MlaKvDtypeName(MlaKvDtype::kFp8), "fp8");
}

// FlashInfer's path is BF16-cache only: with the FP8 cache the choice is ours (or none), for every
// shape, whatever the table says.
TEST(MlaDecodeBackendTest, Fp8CacheNeverPicksFlashInfer) {
  const MlaDecodeTiming fast_fi[] = {{64, 128, 4096, 1000.0, 1.0}};
  for (int64_t batch : {1, 8, 64, 128, 256, 1000}) {
    for (int64_t ctx : {1, 512, 4096, 16384, 131072}) {
      for (bool bf16_out : {true, false}) {
        EXPECT_EQ(ChooseMlaDecodeBackend(batch, 128, ctx, true, bf16_out, MlaKvDtype::kFp8),
                  MlaDecodeBackend::kOurs);
        EXPECT_EQ(
            ChooseMlaDecodeBackend(batch, 128, ctx, true, bf16_out, MlaKvDtype::kFp8, fast_fi),
            MlaDecodeBackend::kOurs);
        EXPECT_EQ(ChooseMlaDecodeBackend(batch, 16, ctx, true, bf16_out, MlaKvDtype::kFp8),
                  MlaDecodeBackend::kNone);
      }
    }
  }
  EXPECT_EQ(ChooseMlaDecodeBackend(64, 128, 4096, true, true, MlaKvDtype::kBf16, fast_fi),
            MlaDecodeBackend::kFlashInfer);
}

}  // namespace
}  // namespace r1::kernels
