// CPU reference test (runs everywhere): a hand-computed two-token case, paging and the
// concatenated query layout against a dense recomputation, bf16 output, and the split choice.
#include "kernels/mla_decode/mla_decode.h"

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

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
    return ChooseMlaDecodeBackend(b, h, ctx, true, true, t);
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

}  // namespace
}  // namespace r1::kernels
