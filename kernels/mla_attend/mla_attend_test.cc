// CPU reference test (runs everywhere): one cached token returns its latent, a hand-computed
// two-token case with a rope term, lengths (zero, prefixes, tokens past the length never read),
// paging and strided layouts against a dense double-precision recomputation, and validation.
#include "kernels/mla_attend/mla_attend.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

constexpr int64_t kPage = kMlaAttendPageTokens;

// A contiguous layout: q is [batch][heads][latent + rope] (q_rope = q_latent + latent), the cache
// [pages][64][latent + rope], out [batch][heads][latent].
struct CacheSetup {
  int64_t latent, rope, heads, batch, pages, bt_stride;
  std::vector<uint16_t> q, cache, out;
  std::vector<int32_t> table, lens;

  CacheSetup(int64_t latent_, int64_t rope_, int64_t heads_, int64_t batch_, int64_t pages_,
             int64_t bt_stride_)
      : latent(latent_),
        rope(rope_),
        heads(heads_),
        batch(batch_),
        pages(pages_),
        bt_stride(bt_stride_),
        q(batch * heads * (latent + rope), 0),
        cache(pages * kPage * (latent + rope), 0),
        out(batch * heads * latent, 0xffff),
        table(batch * bt_stride, 0),
        lens(batch, 0) {}

  int64_t RowDim() const { return latent + rope; }
  uint16_t* Row(int64_t page, int64_t r) { return cache.data() + (page * kPage + r) * RowDim(); }
  uint16_t* Q(int64_t b, int64_t h) { return q.data() + (b * heads + h) * RowDim(); }
  const uint16_t* Out(int64_t b, int64_t h) const { return out.data() + (b * heads + h) * latent; }

  MlaAttendParams Params() {
    MlaAttendParams p;
    p.q_latent = q.data();
    p.q_rope = q.data() + latent;
    p.q_batch_stride = heads * RowDim();
    p.q_head_stride = RowDim();
    p.kv_cache = cache.data();
    p.num_pages = pages;
    p.block_table = table.data();
    p.block_table_stride = bt_stride;
    p.seq_lens = lens.data();
    p.out = out.data();
    p.out_batch_stride = heads * latent;
    p.out_head_stride = latent;
    p.batch = batch;
    p.heads = heads;
    p.latent_dim = latent;
    p.rope_dim = rope;
    p.softmax_scale = 0.25f;
    return p;
  }
};

TEST(MlaAttendReferenceTest, OneTokenReturnsItsLatent) {
  std::mt19937 rng(1);
  CacheSetup s(16, 4, 2, 1, 3, 2);
  s.cache = testing::RandomBf16(s.cache.size(), rng);
  s.q = testing::RandomBf16(s.q.size(), rng);
  s.table = {2, 0};
  s.lens = {1};
  ASSERT_TRUE(MlaAttendReference(s.Params()).ok());
  // A single token has softmax weight exactly 1, whatever the score.
  for (int64_t h = 0; h < s.heads; ++h) {
    for (int64_t i = 0; i < s.latent; ++i) EXPECT_EQ(s.Out(0, h)[i], s.Row(2, 0)[i]) << h << i;
  }
}

TEST(MlaAttendReferenceTest, TwoTokensByHand) {
  // One head, latent 8, rope 2. Token 0: latent all 1, rope (1, 0); token 1: latent all 3,
  // rope (0, 0). Query latent e_0, rope (2, 0). Scores (scale 0.5): 0.5·(1 + 2) = 1.5 and
  // 0.5·3 = 1.5 — equal, so the output is the mean, 2.
  CacheSetup s(8, 2, 1, 1, 1, 1);
  for (int i = 0; i < 8; ++i) {
    s.Row(0, 0)[i] = FloatToBf16(1.0f);
    s.Row(0, 1)[i] = FloatToBf16(3.0f);
  }
  s.Row(0, 0)[8] = FloatToBf16(1.0f);
  s.Q(0, 0)[0] = FloatToBf16(1.0f);
  s.Q(0, 0)[8] = FloatToBf16(2.0f);
  s.lens = {2};
  MlaAttendParams p = s.Params();
  p.softmax_scale = 0.5f;
  ASSERT_TRUE(MlaAttendReference(p).ok());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(Bf16ToFloat(s.Out(0, 0)[i]), 2.0f);

  // Without the rope term token 1 wins: scores 0.5 and 1.5 → w1 = e / (1 + e).
  s.Q(0, 0)[8] = 0;
  s.out.assign(s.out.size(), 0xffff);
  ASSERT_TRUE(MlaAttendReference(p).ok());
  const double w1 = std::exp(1.0) / (1 + std::exp(1.0));
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(s.Out(0, 0)[i], FloatToBf16(static_cast<float>((1 - w1) * 1 + w1 * 3)));
  }
}

// Dense double-precision attention of (b, h) over the first len tokens of entry b's pages.
std::vector<double> Dense(CacheSetup& s, const MlaAttendParams& p, int64_t b, int64_t h) {
  const int64_t len = s.lens[b];
  std::vector<double> out(s.latent, 0.0);
  if (len == 0) return out;
  const uint16_t* ql = p.q_latent + b * p.q_batch_stride + h * p.q_head_stride;
  const uint16_t* qr = p.q_rope + b * p.q_batch_stride + h * p.q_head_stride;
  std::vector<double> sc(len);
  double mx = -1e300;
  for (int64_t t = 0; t < len; ++t) {
    const uint16_t* row = s.Row(s.table[b * s.bt_stride + t / kPage], t % kPage);
    double dot = 0;
    for (int64_t i = 0; i < s.latent; ++i) dot += double{Bf16ToFloat(ql[i])} * Bf16ToFloat(row[i]);
    for (int64_t i = 0; i < s.rope; ++i) {
      dot += double{Bf16ToFloat(qr[i])} * Bf16ToFloat(row[s.latent + i]);
    }
    sc[t] = dot * p.softmax_scale;
    mx = std::max(mx, sc[t]);
  }
  double z = 0;
  for (auto& v : sc) z += (v = std::exp(v - mx));
  for (int64_t t = 0; t < len; ++t) {
    const uint16_t* row = s.Row(s.table[b * s.bt_stride + t / kPage], t % kPage);
    for (int64_t i = 0; i < s.latent; ++i) out[i] += sc[t] / z * Bf16ToFloat(row[i]);
  }
  return out;
}

TEST(MlaAttendReferenceTest, LengthsAreCausalPrefixes) {
  // Several entries share one block-table row (a prefill chunk): entry b sees exactly its first
  // lens[b] tokens. Tokens at and past the longest length are poisoned (NaN) so any read of them
  // would show; a zero length gives zeros.
  std::mt19937 rng(2);
  const std::vector<int32_t> lens = {0, 1, 2, 63, 64, 65, 130};
  const int64_t batch = lens.size();
  CacheSetup s(24, 8, 2, batch, 4, 3);
  s.cache = testing::RandomBf16(s.cache.size(), rng);
  s.q = testing::RandomBf16(s.q.size(), rng, 0.5f);
  const int32_t row[3] = {3, 1, 0};
  for (int64_t b = 0; b < batch; ++b) std::copy(row, row + 3, s.table.begin() + b * 3);
  s.lens = lens;
  for (int64_t t = 130; t < 3 * kPage; ++t) {
    uint16_t* r = s.Row(row[t / kPage], t % kPage);
    std::fill(r, r + s.RowDim(), uint16_t{0x7fc0});
  }
  const MlaAttendParams p = s.Params();
  ASSERT_TRUE(MlaAttendReference(p).ok());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < s.heads; ++h) {
      const auto want = Dense(s, p, b, h);
      for (int64_t i = 0; i < s.latent; ++i) {
        const float got = Bf16ToFloat(s.Out(b, h)[i]);
        ASSERT_TRUE(std::isfinite(got)) << b << "," << h << "," << i;
        EXPECT_NEAR(got, want[i], 1e-5 + std::fabs(want[i]) / 128) << b << "," << h << "," << i;
        if (lens[b] == 0) {
          EXPECT_EQ(s.Out(b, h)[i], 0);
        }
      }
    }
  }
  // Entry b's output does not depend on tokens ≥ lens[b]: changing token 64 leaves lens ≤ 64.
  const std::vector<uint16_t> before = s.out;
  std::fill(s.Row(1, 0), s.Row(1, 0) + s.RowDim(), FloatToBf16(5.0f));
  ASSERT_TRUE(MlaAttendReference(p).ok());
  for (int64_t b = 0; b < batch; ++b) {
    const bool sees = lens[b] > 64;
    const bool same = std::equal(s.Out(b, 0), s.Out(b, 0) + s.heads * s.latent,
                                 before.begin() + b * s.heads * s.latent);
    EXPECT_EQ(same, !sees) << b;
  }
}

TEST(MlaAttendReferenceTest, StridedLayoutsAndSeparateRope) {
  // Queries with padded strides and a separate rope tensor at the same strides, output with
  // padded strides (the padding is left untouched), no rope-dim restriction beyond evenness.
  std::mt19937 rng(3);
  const int64_t latent = 40, rope = 6, heads = 3, batch = 2;
  CacheSetup s(latent, rope, heads, batch, 5, 3);
  s.cache = testing::RandomBf16(s.cache.size(), rng);
  s.table = {4, 0, 2, 1, 3, -1};  // unused entry past entry 1's length: never checked
  s.lens = {150, 100};
  const int64_t qh = 48, qb = heads * qh + 8, oh = 44, ob = heads * oh + 4;
  auto ql = testing::RandomBf16(batch * qb, rng, 0.4f);
  auto qr = testing::RandomBf16(batch * qb, rng, 0.4f);
  std::vector<uint16_t> out(batch * ob, 0x1234);
  MlaAttendParams p = s.Params();
  p.q_latent = ql.data();
  p.q_rope = qr.data();
  p.q_batch_stride = qb;
  p.q_head_stride = qh;
  p.out = out.data();
  p.out_batch_stride = ob;
  p.out_head_stride = oh;
  p.softmax_scale = 0.15f;
  ASSERT_TRUE(MlaAttendReference(p).ok());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const auto want = Dense(s, p, b, h);
      for (int64_t i = 0; i < oh; ++i) {
        const uint16_t got = out[b * ob + h * oh + i];
        if (i >= latent) {
          EXPECT_EQ(got, 0x1234);
        } else {
          EXPECT_NEAR(Bf16ToFloat(got), want[i], 1e-5 + std::fabs(want[i]) / 128);
        }
      }
    }
    for (int64_t i = heads * oh; i < ob; ++i) EXPECT_EQ(out[b * ob + i], 0x1234);
  }
}

TEST(MlaAttendReferenceTest, Validation) {
  CacheSetup s(16, 4, 2, 1, 2, 2);
  s.lens = {70};
  s.table = {1, 0};
  ASSERT_TRUE(ValidateMlaAttend(s.Params()).ok());
  ASSERT_TRUE(MlaAttendReference(s.Params()).ok());
  auto bad = [&](auto mutate) {
    MlaAttendParams p = s.Params();
    mutate(p);
    return !ValidateMlaAttend(p).ok() && !MlaAttendReference(p).ok();
  };
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.q_latent = nullptr; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.q_rope = nullptr; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.kv_cache = nullptr; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.block_table = nullptr; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.seq_lens = nullptr; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.out = nullptr; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.batch = -1; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.heads = 0; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.num_pages = 0; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.block_table_stride = 0; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.latent_dim = 0; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.latent_dim = 12; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.latent_dim = kMlaAttendMaxLatent + 8; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.rope_dim = 3; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.rope_dim = -2; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.rope_dim = kMlaAttendMaxRope + 2; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.q_head_stride = 15; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.q_batch_stride = 15; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.out_head_stride = 15; }));
  EXPECT_TRUE(bad([](MlaAttendParams& p) { p.out_batch_stride = 15; }));

  // The widest allowed dims and no rope pass validation; batch 0 is a no-op.
  MlaAttendParams p = s.Params();
  p.latent_dim = kMlaAttendMaxLatent;
  p.rope_dim = kMlaAttendMaxRope;
  p.q_batch_stride = p.q_head_stride = p.out_batch_stride = p.out_head_stride = 2048;
  EXPECT_TRUE(ValidateMlaAttend(p).ok());
  p = s.Params();
  p.rope_dim = 0;
  EXPECT_TRUE(ValidateMlaAttend(p).ok());
  p = s.Params();
  p.batch = 0;
  EXPECT_TRUE(MlaAttendReference(p).ok());

  // Bounds checks of the reference on the table contents; nothing is written on failure.
  s.out.assign(s.out.size(), 0x5555);
  s.lens = {129};  // > 2 pages · 64
  EXPECT_EQ(MlaAttendReference(s.Params()).code(), absl::StatusCode::kInvalidArgument);
  s.lens = {-1};
  EXPECT_EQ(MlaAttendReference(s.Params()).code(), absl::StatusCode::kInvalidArgument);
  s.lens = {65};
  s.table = {1, 2};  // page 2 of 2
  EXPECT_EQ(MlaAttendReference(s.Params()).code(), absl::StatusCode::kInvalidArgument);
  s.table = {-1, 0};
  EXPECT_EQ(MlaAttendReference(s.Params()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(std::all_of(s.out.begin(), s.out.end(), [](uint16_t v) { return v == 0x5555; }));
  s.lens = {64};  // the bad second entry is past the length: fine
  s.table = {1, 7};
  EXPECT_TRUE(MlaAttendReference(s.Params()).ok());
}

}  // namespace
}  // namespace r1::kernels
