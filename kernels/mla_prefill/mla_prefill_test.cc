// CPU reference test (runs everywhere): one token returns v[0] whatever the scores, a
// hand-computed two-position case with a rope term, causality (changing position s changes only
// the outputs of tokens that see it), chunked prefill (a chunk after cached positions equals the
// tail of the full prefill), strided layouts against a double-precision recomputation, and
// validation.
#include "kernels/mla_prefill/mla_prefill.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

// Contiguous layout: q [tokens][heads][nope + rope], kv [kv_len][heads][nope + v], k_rope
// [kv_len][rope], out [tokens][heads][v]. Query token t sits at row q_start + t of the kv arrays.
struct Chunk {
  int64_t heads, nope, rope, vd, tokens, q_start, kv_len;
  std::vector<uint16_t> q, kv, kr, out;

  Chunk(int64_t heads_, int64_t nope_, int64_t rope_, int64_t vd_, int64_t tokens_,
        int64_t q_start_, std::mt19937& rng)
      : heads(heads_),
        nope(nope_),
        rope(rope_),
        vd(vd_),
        tokens(tokens_),
        q_start(q_start_),
        kv_len(q_start_ + tokens_),
        q(testing::RandomBf16(tokens * heads * (nope + rope), rng, 0.5f)),
        kv(testing::RandomBf16(kv_len * heads * (nope + vd), rng)),
        kr(testing::RandomBf16(kv_len * std::max<int64_t>(rope, 1), rng)),
        out(tokens * heads * vd, 0xffff) {}

  uint16_t* Kv(int64_t s, int64_t h) { return kv.data() + (s * heads + h) * (nope + vd); }
  const uint16_t* Out(int64_t t, int64_t h) const { return out.data() + (t * heads + h) * vd; }

  MlaPrefillParams Params() {
    MlaPrefillParams p;
    p.q = q.data();
    p.q_token_stride = heads * (nope + rope);
    p.q_head_stride = nope + rope;
    p.kv = kv.data();
    p.kv_token_stride = heads * (nope + vd);
    p.kv_head_stride = nope + vd;
    p.k_rope = kr.data();
    p.k_rope_stride = rope;
    p.out = out.data();
    p.out_token_stride = heads * vd;
    p.out_head_stride = vd;
    p.tokens = tokens;
    p.q_start = q_start;
    p.kv_len = kv_len;
    p.heads = heads;
    p.nope_dim = nope;
    p.rope_dim = rope;
    p.v_dim = vd;
    p.softmax_scale = 0.3f;
    return p;
  }
};

// Double-precision attention of (t, h) with the given params.
std::vector<double> Dense(const MlaPrefillParams& p, int64_t t, int64_t h) {
  const int64_t len = p.q_start + t + 1;
  const uint16_t* q = p.q + t * p.q_token_stride + h * p.q_head_stride;
  std::vector<double> sc(len), out(p.v_dim, 0.0);
  double mx = -1e300;
  for (int64_t s = 0; s < len; ++s) {
    const uint16_t* k = p.kv + s * p.kv_token_stride + h * p.kv_head_stride;
    double dot = 0;
    for (int64_t i = 0; i < p.nope_dim; ++i) dot += double{Bf16ToFloat(q[i])} * Bf16ToFloat(k[i]);
    for (int64_t i = 0; i < p.rope_dim; ++i) {
      dot +=
          double{Bf16ToFloat(q[p.nope_dim + i])} * Bf16ToFloat(p.k_rope[s * p.k_rope_stride + i]);
    }
    sc[s] = dot * p.softmax_scale;
    mx = std::max(mx, sc[s]);
  }
  double z = 0;
  for (auto& v : sc) z += (v = std::exp(v - mx));
  for (int64_t s = 0; s < len; ++s) {
    const uint16_t* v = p.kv + s * p.kv_token_stride + h * p.kv_head_stride + p.nope_dim;
    for (int64_t i = 0; i < p.v_dim; ++i) out[i] += sc[s] / z * Bf16ToFloat(v[i]);
  }
  return out;
}

TEST(MlaPrefillReferenceTest, FirstTokenReturnsFirstValue) {
  // Token 0 at position 0 sees only position 0: softmax weight exactly 1.
  std::mt19937 rng(1);
  Chunk s(3, 16, 8, 12, 1, 0, rng);
  ASSERT_TRUE(MlaPrefillReference(s.Params()).ok());
  for (int64_t h = 0; h < s.heads; ++h) {
    for (int64_t i = 0; i < s.vd; ++i) EXPECT_EQ(s.Out(0, h)[i], s.Kv(0, h)[s.nope + i]) << h;
  }
}

TEST(MlaPrefillReferenceTest, TwoPositionsByHand) {
  // One head, nope 4, rope 2, v 4. Position 0: k_nope (1, 0, 0, 0), k_rope (1, 0), v all 1;
  // position 1: k_nope (3, 0, 0, 0), k_rope 0, v all 3. Token 1 (q_start 0) with q_nope e_0 and
  // q_rope (2, 0), scale 0.5: scores 0.5·(1 + 2) = 1.5 and 0.5·3 = 1.5 → the mean, 2. Token 0
  // sees only position 0 → 1.
  std::mt19937 rng(2);
  Chunk s(1, 4, 2, 4, 2, 0, rng);
  std::fill(s.q.begin(), s.q.end(), 0);
  std::fill(s.kv.begin(), s.kv.end(), 0);
  std::fill(s.kr.begin(), s.kr.end(), 0);
  s.Kv(0, 0)[0] = FloatToBf16(1.0f);
  s.Kv(1, 0)[0] = FloatToBf16(3.0f);
  s.kr[0] = FloatToBf16(1.0f);
  for (int i = 0; i < 4; ++i) {
    s.Kv(0, 0)[4 + i] = FloatToBf16(1.0f);
    s.Kv(1, 0)[4 + i] = FloatToBf16(3.0f);
  }
  for (int t = 0; t < 2; ++t) {
    s.q[t * 6 + 0] = FloatToBf16(1.0f);
    s.q[t * 6 + 4] = FloatToBf16(2.0f);
  }
  MlaPrefillParams p = s.Params();
  p.softmax_scale = 0.5f;
  ASSERT_TRUE(MlaPrefillReference(p).ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Bf16ToFloat(s.Out(0, 0)[i]), 1.0f);
    EXPECT_EQ(Bf16ToFloat(s.Out(1, 0)[i]), 2.0f);
  }
  // Without the rope term position 1 wins: scores 0.5 and 1.5 → w1 = e / (1 + e).
  s.q[6 + 4] = 0;
  ASSERT_TRUE(MlaPrefillReference(p).ok());
  const double w1 = std::exp(1.0) / (1 + std::exp(1.0));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s.Out(1, 0)[i], FloatToBf16(static_cast<float>((1 - w1) * 1 + w1 * 3)));
  }
}

TEST(MlaPrefillReferenceTest, Causality) {
  // Changing position sp (k_nope, v or k_rope) changes exactly the outputs of the tokens with
  // q_start + t >= sp (of its head; all heads for k_rope); positions past q_start + tokens - 1 are
  // never read (poisoned with NaN).
  std::mt19937 rng(3);
  for (int64_t q_start : {int64_t{0}, int64_t{5}}) {
    Chunk s(2, 8, 4, 8, 9, q_start, rng);
    s.kv_len += 3;  // extra cached positions nobody sees
    s.kv.resize(s.kv_len * s.heads * (s.nope + s.vd), 0x7fc0);
    s.kr.resize(s.kv_len * s.rope, 0x7fc0);
    const MlaPrefillParams p = s.Params();
    ASSERT_TRUE(MlaPrefillReference(p).ok());
    const std::vector<uint16_t> base = s.out;
    for (const uint16_t x : base) ASSERT_TRUE(std::isfinite(Bf16ToFloat(x)));
    for (int64_t sp : {int64_t{0}, q_start + 3, q_start + 8}) {
      for (int what = 0; what < 3; ++what) {
        Chunk m = s;
        // Large changes, so that the effect survives the bf16 rounding of the outputs.
        if (what == 0) std::fill_n(m.Kv(sp, 1), m.nope, FloatToBf16(6.0f));  // k_nope, head 1
        if (what == 1) std::fill_n(m.Kv(sp, 1) + m.nope, m.vd, FloatToBf16(9.0f));  // v, head 1
        if (what == 2) std::fill_n(m.kr.begin() + sp * m.rope, m.rope, FloatToBf16(-6.0f));
        ASSERT_TRUE(MlaPrefillReference(m.Params()).ok());
        for (int64_t t = 0; t < s.tokens; ++t) {
          for (int64_t h = 0; h < s.heads; ++h) {
            const bool same = std::equal(m.Out(t, h), m.Out(t, h) + s.vd, s.Out(t, h));
            // A token that sees a single position gives it weight 1 whatever its key.
            const bool sees =
                q_start + t >= sp && (what == 2 || h == 1) && (what == 1 || q_start + t > 0);
            EXPECT_EQ(same, !sees) << "q_start " << q_start << " sp " << sp << " what " << what
                                   << " t " << t << " h " << h;
          }
        }
      }
    }
  }
}

TEST(MlaPrefillReferenceTest, ChunkEqualsTailOfFullPrefill) {
  // The chunk of tokens 20..34 after 20 cached positions gives the same outputs as the last 15
  // tokens of a 35-token prefill from position 0.
  std::mt19937 rng(4);
  Chunk full(2, 16, 8, 16, 35, 0, rng);
  ASSERT_TRUE(MlaPrefillReference(full.Params()).ok());
  MlaPrefillParams p = full.Params();
  std::vector<uint16_t> out(15 * 2 * 16, 0xffff);
  p.q = full.q.data() + 20 * p.q_token_stride;
  p.tokens = 15;
  p.q_start = 20;
  p.out = out.data();
  ASSERT_TRUE(MlaPrefillReference(p).ok());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), full.out.begin() + 20 * 2 * 16));
}

TEST(MlaPrefillReferenceTest, StridedLayoutsNoRope) {
  // Padded q and kv strides, a separate strided k_rope, head-major output with padding (left
  // untouched); then rope_dim 0 with a null k_rope.
  std::mt19937 rng(5);
  const int64_t heads = 3, nope = 24, rope = 6, vd = 20, tokens = 7, q_start = 4;
  const int64_t kv_len = q_start + tokens + 2;
  const int64_t qh = 40, qt = heads * qh + 8, kh = 48, kt = heads * kh + 4, krs = 10;
  const int64_t ot = 24, oh = tokens * ot + 4;  // [heads][tokens][v] with padding
  auto q = testing::RandomBf16(tokens * qt, rng, 0.5f);
  auto kv = testing::RandomBf16(kv_len * kt, rng);
  auto kr = testing::RandomBf16(kv_len * krs, rng);
  std::vector<uint16_t> out(heads * oh, 0x1234);
  MlaPrefillParams p;
  p.q = q.data();
  p.q_token_stride = qt;
  p.q_head_stride = qh;
  p.kv = kv.data();
  p.kv_token_stride = kt;
  p.kv_head_stride = kh;
  p.k_rope = kr.data();
  p.k_rope_stride = krs;
  p.out = out.data();
  p.out_token_stride = ot;
  p.out_head_stride = oh;
  p.tokens = tokens;
  p.q_start = q_start;
  p.kv_len = kv_len;
  p.heads = heads;
  p.nope_dim = nope;
  p.rope_dim = rope;
  p.v_dim = vd;
  p.softmax_scale = 0.2f;
  for (int64_t r : {rope, int64_t{0}}) {
    p.rope_dim = r;
    if (r == 0) {
      p.k_rope = nullptr;
      p.k_rope_stride = 0;
    }
    out.assign(out.size(), 0x1234);
    ASSERT_TRUE(MlaPrefillReference(p).ok()) << r;
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < oh; ++i) {
        const int64_t t = i / ot, d = i % ot;
        const uint16_t got = out[h * oh + i];
        if (t >= tokens || d >= vd) {
          EXPECT_EQ(got, 0x1234) << r << " " << h << " " << i;
          continue;
        }
        const double want = Dense(p, t, h)[d];
        EXPECT_NEAR(Bf16ToFloat(got), want, 1e-5 + std::fabs(want) / 128) << r << " " << h;
      }
    }
  }
}

TEST(MlaPrefillReferenceTest, Validation) {
  std::mt19937 rng(6);
  Chunk s(2, 16, 8, 16, 4, 2, rng);
  ASSERT_TRUE(ValidateMlaPrefill(s.Params()).ok());
  auto bad = [&](auto mutate) {
    MlaPrefillParams p = s.Params();
    mutate(p);
    return ValidateMlaPrefill(p).code() == absl::StatusCode::kInvalidArgument &&
           !MlaPrefillReference(p).ok();
  };
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.heads = 0; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.nope_dim = 0; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.rope_dim = -2; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.rope_dim = 3; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.v_dim = 0; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) {
    p.nope_dim = 250;
    p.rope_dim = 8;  // 258 > 256
    p.q_token_stride = p.q_head_stride = p.kv_token_stride = p.kv_head_stride = 1024;
  }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) {
    p.v_dim = 258;
    p.kv_token_stride = p.kv_head_stride = p.out_token_stride = p.out_head_stride = 1024;
    p.out_token_stride = 4096;
  }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.tokens = -1; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.q_start = -1; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.kv_len = p.q_start + p.tokens - 1; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.softmax_scale = 0.0f; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.softmax_scale = -1.0f; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.softmax_scale = NAN; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.q = nullptr; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.kv = nullptr; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.k_rope = nullptr; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.out = nullptr; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.q_token_stride = 23; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.q_head_stride = 23; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.kv_token_stride = 31; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.kv_head_stride = 31; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.k_rope_stride = 7; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.out_token_stride = 15; }));
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.out_head_stride = 15; }));
  // Overlapping outputs: token stride 16 with two heads of 16.
  EXPECT_TRUE(bad([](MlaPrefillParams& p) { p.out_token_stride = 16; }));

  // Largest dims pass; rope 0 needs no k_rope; tokens 0 needs no pointers and writes nothing.
  MlaPrefillParams p = s.Params();
  p.nope_dim = 192;
  p.rope_dim = 64;
  p.v_dim = 256;
  p.q_token_stride = p.kv_token_stride = p.out_token_stride = 2048;
  p.q_head_stride = p.kv_head_stride = p.out_head_stride = 512;
  p.k_rope_stride = 64;
  EXPECT_TRUE(ValidateMlaPrefill(p).ok());
  p = s.Params();
  p.rope_dim = 0;
  p.k_rope = nullptr;
  EXPECT_TRUE(ValidateMlaPrefill(p).ok());
  p = MlaPrefillParams();
  p.heads = 1;
  p.nope_dim = p.v_dim = 8;
  p.q_token_stride = p.q_head_stride = p.kv_token_stride = p.kv_head_stride = 16;
  p.out_token_stride = p.out_head_stride = 8;
  p.q_start = 3;
  p.kv_len = 3;
  p.softmax_scale = 1.0f;
  EXPECT_TRUE(MlaPrefillReference(p).ok());
}

}  // namespace
}  // namespace r1::kernels
