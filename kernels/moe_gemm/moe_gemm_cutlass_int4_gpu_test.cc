// GPU test (label gpu): CUTLASS's int4 × bf16 grouped GEMM (moe_gemm_cutlass_int4.h).
//  - The weight preparation against a host conversion through the same layout (every element's
//    offset evaluated on the host; the offsets must be a permutation of one expert's elements).
//  - Both tile configurations against the CPU reference of our INT4 path (MoeGemmInt4Reference)
//    on R1's expert shapes (gate_up n=4096 k=7168, down n=7168 k=2048), 8–32 experts with uneven
//    token counts including 0, 1, 7, 32 and 300, and rows outside every expert (must stay
//    untouched). CUTLASS rounds each dequantised weight q·s to bf16 where the reference keeps it
//    exact, so these cases draw scales with 5 significant bits (q·s then needs ≤ 8 and is exact
//    in bf16) and use the tolerance of moe_gemm_gpu_test.cc; one case with arbitrary bf16 scales
//    checks that the rounding stays within a looser bound (see the header).
//  - Ours and CUTLASS on the same inputs, and the calls it must refuse.
#include <cmath>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/int4_quant/int4_quant.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/gemm_check.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"
#include "kernels/moe_gemm/moe_gemm_cutlass_int4.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

struct Case {
  std::vector<int32_t> counts;
  int64_t extra_rows, n, k;
};

std::vector<int32_t> Offsets(const std::vector<int32_t>& counts) {
  std::vector<int32_t> off(counts.size() + 1, 0);
  for (size_t e = 0; e < counts.size(); ++e) off[e + 1] = off[e] + counts[e];
  return off;
}

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      // gate_up, 8 experts, decode-sized and one prefill-sized expert, rows outside.
      {{0, 1, 7, 32, 300, 0, 3, 17}, 2, 4096, 7168},
      // down, 16 experts, uneven.
      {{1, 0, 7, 32, 5, 300, 0, 1, 12, 31, 2, 0, 64, 9, 33, 1}, 0, 7168, 2048},
      // down, 32 experts, all small (the decode regime), one row outside every expert.
      {{1,  7,  32, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
        13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28},
       1,
       7168,
       2048},
  };
  return cases;
}

struct Inputs {
  std::vector<int32_t> off;
  int64_t experts = 0, tokens = 0;
  std::vector<uint16_t> x, ws, want;
  std::vector<uint8_t> w;
};

// exact_scales: 5 significant bits, so that bf16(q·s) == q·s for every int4 q.
Inputs MakeInputs(const Case& c, unsigned seed, bool exact_scales) {
  std::mt19937 rng(seed);
  Inputs in;
  in.off = Offsets(c.counts);
  in.experts = static_cast<int64_t>(c.counts.size());
  in.tokens = in.off.back() + c.extra_rows;
  in.x = testing::RandomBf16(in.tokens * c.k, rng);
  in.w.resize(in.experts * c.n * c.k / 2);
  for (auto& b : in.w) b = static_cast<uint8_t>(rng());
  in.ws.resize(in.experts * (c.k / 128) * c.n);
  std::uniform_real_distribution<float> any(1e-3f, 1e-2f);
  for (auto& s : in.ws) {
    if (exact_scales) {
      const float mant = static_cast<float>(16 + rng() % 16) / 16.0f;  // 1.xxxx in binary
      s = FloatToBf16(std::ldexp(mant, -7 - static_cast<int>(rng() % 3)));
    } else {
      s = FloatToBf16(any(rng));
    }
  }
  in.want.assign(in.tokens * c.n, 0xffff);
  MoeGemmInt4Params p{
      in.x.data(), in.w.data(), in.ws.data(), in.off.data(), in.want.data(), in.tokens,
      in.experts,  c.n,         c.k};
  EXPECT_TRUE(MoeGemmInt4Reference(p).ok());
  return in;
}

// The inputs of Cases()[index] (the reference is the slow part: computed once per process).
const Inputs& CachedInputs(size_t index, bool exact_scales) {
  static std::map<std::pair<size_t, bool>, Inputs> cache;
  const auto key = std::make_pair(index, exact_scales);
  auto it = cache.find(key);
  if (it == cache.end()) {
    const unsigned seed = 700 + static_cast<unsigned>(index) + (exact_scales ? 0 : 50);
    it = cache.emplace(key, MakeInputs(Cases()[index], seed, exact_scales)).first;
  }
  return it->second;
}

// Device copies with the weights prepared for CUTLASS.
struct DeviceInputs {
  DeviceBuffer<uint16_t> x, ws;
  DeviceBuffer<uint8_t> w, w_prep;
  DeviceBuffer<int32_t> off;
  explicit DeviceInputs(const Inputs& in, int64_t n, int64_t k)
      : x(in.x), ws(in.ws), w(in.w), w_prep(in.w.size()), off(in.off) {
    EXPECT_TRUE(
        PrepareCutlassMoeGemmInt4Weights(w.get(), in.experts, n, k, w_prep.get(), nullptr).ok());
  }
};

void RunAndCheck(CutlassMoeGemmInt4& gemm, const Case& c, const Inputs& in, const DeviceInputs& d,
                 CutlassInt4Tile tile, double rel, double rms_frac, const std::string& what) {
  DeviceBuffer<uint16_t> dout(in.want.size());
  dout.Fill(0xff);  // poison: rows outside every expert must keep it (as in `want`)
  MoeGemmInt4Params p{d.x.get(), d.w_prep.get(), d.ws.get(), d.off.get(), dout.get(),
                      in.tokens, in.experts,     c.n,        c.k};
  ASSERT_TRUE(gemm.Run(p, tile, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto chk = testing::CheckBf16Close(dout.Download(), in.want, rel, rms_frac);
  EXPECT_EQ(chk.bad, 0) << what << " tile " << CutlassInt4TileName(tile) << ": " << chk.Describe();
  std::cout << "cutlass int4 " << what << " " << CutlassInt4TileName(tile)
            << " max_rel=" << chk.max_rel << "\n";
}

std::unique_ptr<CutlassMoeGemmInt4> MakeGemm() {
  auto g = CutlassMoeGemmInt4::Create({/*max_experts=*/32, /*max_tokens=*/1024, /*max_n=*/7168,
                                       /*max_k=*/7168});
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? std::move(*g) : nullptr;
}

// Prepared bytes == the host conversion through internal::CutlassInt4WeightOffset.
TEST(MoeGemmCutlassInt4GpuTest, PrepareMatchesHostLayout) {
  struct Shape {
    int64_t experts, n, k;
  };
  for (const Shape s : {Shape{3, 64, 256}, Shape{2, 144, 384}, Shape{1, 512, 7168}}) {
    std::mt19937 rng(static_cast<unsigned>(s.n * 31 + s.k));
    std::vector<uint8_t> w(s.experts * s.n * s.k / 2);
    for (auto& b : w) b = static_cast<uint8_t>(rng());
    const int64_t per = s.n * s.k;
    std::vector<uint8_t> want(w.size(), 0);
    std::vector<uint8_t> hit(per, 0);
    for (int64_t r = 0; r < s.n; ++r) {
      for (int64_t col = 0; col < s.k; ++col) {
        const int64_t o = internal::CutlassInt4WeightOffset(s.n, s.k, r, col);
        ASSERT_TRUE(o >= 0 && o < per) << "row " << r << " col " << col << " offset " << o;
        ASSERT_EQ(hit[o]++, 0) << "offset " << o << " hit twice";
        for (int64_t e = 0; e < s.experts; ++e) {
          const int q = Int4Get(w.data() + e * per / 2 + r * (s.k / 2), col);
          const uint8_t nib = static_cast<uint8_t>(q & 0xf);  // two's complement
          want[e * per / 2 + o / 2] |= static_cast<uint8_t>(o % 2 == 0 ? nib : nib << 4);
        }
      }
    }
    DeviceBuffer<uint8_t> dw(w), dout(w.size());
    dout.Fill(0);
    ASSERT_TRUE(
        PrepareCutlassMoeGemmInt4Weights(dw.get(), s.experts, s.n, s.k, dout.get(), nullptr).ok());
    const auto got = dout.Download();
    int64_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
    EXPECT_EQ(bad, 0) << "experts " << s.experts << " n " << s.n << " k " << s.k;
  }
  // Shapes the layout cannot take, and overlapping buffers.
  DeviceBuffer<uint8_t> a(64 * 256), b(64 * 256);
  EXPECT_FALSE(PrepareCutlassMoeGemmInt4Weights(a.get(), 1, 60, 256, b.get(), nullptr).ok());
  EXPECT_FALSE(PrepareCutlassMoeGemmInt4Weights(a.get(), 1, 64, 200, b.get(), nullptr).ok());
  EXPECT_FALSE(PrepareCutlassMoeGemmInt4Weights(a.get(), 2, 64, 256, a.get() + 16, nullptr).ok());
}

TEST(MoeGemmCutlassInt4GpuTest, BothTilesMatchReference) {
  auto gemm = MakeGemm();
  ASSERT_NE(gemm, nullptr);
  std::cout << "device bytes " << gemm->device_bytes() << "\n";
  for (size_t i = 0; i < Cases().size(); ++i) {
    const Case& c = Cases()[i];
    const Inputs& in = CachedInputs(i, /*exact_scales=*/true);
    const DeviceInputs d(in, c.n, c.k);
    for (CutlassInt4Tile tile : {CutlassInt4Tile::kDecode, CutlassInt4Tile::kPrefill}) {
      RunAndCheck(*gemm, c, in, d, tile, 1e-2, 1e-3, "case " + std::to_string(i + 1));
    }
  }
}

// Arbitrary bf16 scales: CUTLASS's bf16(q·s) costs ≤ 2^-9 relative per product, which over k
// random terms is ~1e-3 of the output's rms (bf16 output rounding adds 2^-9 relative).
TEST(MoeGemmCutlassInt4GpuTest, ArbitraryScalesWithinRoundingBound) {
  auto gemm = MakeGemm();
  ASSERT_NE(gemm, nullptr);
  const Case& c = Cases()[2];
  const Inputs& in = CachedInputs(2, /*exact_scales=*/false);
  const DeviceInputs d(in, c.n, c.k);
  for (CutlassInt4Tile tile : {CutlassInt4Tile::kDecode, CutlassInt4Tile::kPrefill}) {
    RunAndCheck(*gemm, c, in, d, tile, 2e-2, 8e-3, "arbitrary scales");
  }
}

// Same inputs through ours and CUTLASS: both within tolerance of the reference (the bench compares
// their speed on exactly this contract).
TEST(MoeGemmCutlassInt4GpuTest, AgreesWithOurs) {
  auto gemm = MakeGemm();
  ASSERT_NE(gemm, nullptr);
  const Case& c = Cases()[2];
  const Inputs& in = CachedInputs(2, /*exact_scales=*/true);
  const DeviceInputs d(in, c.n, c.k);
  DeviceBuffer<uint16_t> ours(in.want.size()), lib(in.want.size());
  ours.Fill(0xff);
  lib.Fill(0xff);
  MoeGemmInt4Params p{d.x.get(), d.w.get(),  d.ws.get(), d.off.get(), ours.get(),
                      in.tokens, in.experts, c.n,        c.k};
  ASSERT_TRUE(LaunchMoeGemmInt4(p, nullptr).ok());
  p.w = d.w_prep.get();
  p.out = lib.get();
  ASSERT_TRUE(gemm->Run(p, CutlassInt4Tile::kDecode, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(testing::CheckBf16Close(ours.Download(), in.want).bad, 0);
  EXPECT_EQ(testing::CheckBf16Close(lib.Download(), in.want).bad, 0);
}

TEST(MoeGemmCutlassInt4GpuTest, RefusesWhatItCannotRun) {
  auto gemm = MakeGemm();
  ASSERT_NE(gemm, nullptr);
  DeviceBuffer<uint16_t> x(64 * 256), ws(2 * 2 * 256), out(64 * 256);
  DeviceBuffer<uint8_t> w(2 * 256 * 128);
  DeviceBuffer<int32_t> off(std::vector<int32_t>{0, 32, 64});
  MoeGemmInt4Params p{x.get(), w.get(), ws.get(), off.get(), out.get(), 64, 2, 256, 256};
  EXPECT_TRUE(gemm->Run(p, CutlassInt4Tile::kDecode, nullptr).ok());
  p.n = 248;  // n % 16 != 0
  EXPECT_FALSE(gemm->Run(p, CutlassInt4Tile::kDecode, nullptr).ok());
  p.n = 256;
  p.experts = 33;  // over capacity (and over the offsets, but refused before any launch)
  EXPECT_FALSE(gemm->Run(p, CutlassInt4Tile::kPrefill, nullptr).ok());
  p.experts = 2;
  p.tokens = 2048;  // over capacity
  EXPECT_FALSE(gemm->Run(p, CutlassInt4Tile::kPrefill, nullptr).ok());
  p.tokens = 64;
  p.out = out.get() + 1;  // not 16-byte aligned
  EXPECT_FALSE(gemm->Run(p, CutlassInt4Tile::kPrefill, nullptr).ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace r1::kernels
