// GPU test (label gpu): CUTLASS's blockwise-scaled grouped GEMM (moe_gemm_cutlass.h), both tile
// configurations, against the CPU reference on R1's expert shapes (gate_up n=4096 k=7168, down
// n=7168 k=2048), 8–32 experts with uneven token counts including 0, 1, 7, 32 and 300, rows
// outside every expert (must stay untouched), padded scale leading dimensions (the weight-scale
// repack), and the caller's token-major activation scales (no transpose). Same tolerance as
// moe_gemm_gpu_test.cc (testing::CheckBf16Close).
#include <iostream>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/gemm_check.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"
#include "kernels/moe_gemm/moe_gemm_cutlass.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

struct Case {
  std::vector<int32_t> counts;
  int64_t extra_rows, n, k;
  bool padded_w_scale_ld;  // w_scale_ld > k/128: the setup kernel repacks the weight scales
};

std::vector<int32_t> Offsets(const std::vector<int32_t>& counts) {
  std::vector<int32_t> off(counts.size() + 1, 0);
  for (size_t e = 0; e < counts.size(); ++e) off[e + 1] = off[e] + counts[e];
  return off;
}

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      // gate_up, 8 experts, decode-sized and one prefill-sized expert.
      {{0, 1, 7, 32, 300, 0, 3, 17}, 2, 4096, 7168, false},
      // down, 16 experts, uneven, padded weight-scale rows.
      {{1, 0, 7, 32, 5, 300, 0, 1, 12, 31, 2, 0, 64, 9, 33, 1}, 0, 7168, 2048, true},
      // down, 32 experts, all small (the decode regime), one row outside every expert.
      {{1,  7,  32, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
        13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28},
       1,
       7168,
       2048,
       false},
  };
  return cases;
}

struct Inputs {
  std::vector<int32_t> off;
  int64_t experts = 0, tokens = 0, ld = 0, wld = 0, nb = 0;
  std::vector<uint8_t> x, w;
  std::vector<float> xs, ws;
  std::vector<uint16_t> want;
};

Inputs MakeInputs(const Case& c, unsigned seed) {
  std::mt19937 rng(seed);
  Inputs in;
  in.off = Offsets(c.counts);
  in.experts = static_cast<int64_t>(c.counts.size());
  in.tokens = in.off.back() + c.extra_rows;
  in.ld = in.tokens + 5;
  in.wld = c.padded_w_scale_ld ? c.k / 128 + 4 : c.k / 128;
  in.nb = (c.n + 127) / 128;
  in.x = testing::RandomFp8(in.tokens * c.k, rng);
  in.xs = testing::RandomFloat(c.k / 128 * in.ld, rng, 0.01f, 0.1f);
  in.w = testing::RandomFp8(in.experts * c.n * c.k, rng);
  in.ws = testing::RandomFloat(in.experts * in.nb * in.wld, rng, 1e-3f, 1e-2f);
  in.want.assign(in.tokens * c.n, 0xffff);
  MoeGemmFp8Params p{in.x.data(),   in.xs.data(),   in.ld,     in.w.data(), in.ws.data(), in.wld,
                     in.off.data(), in.want.data(), in.tokens, in.experts,  c.n,          c.k};
  EXPECT_TRUE(MoeGemmFp8Reference(p).ok());
  return in;
}

// CUTLASS's blockwise-scaled kernel issues FP8 WGMMAs for a whole 128-wide K block before it
// promotes the partial sum to fp32 with the block's scales; Hopper's FP8 tensor cores keep only
// about 14 bits while they accumulate within the block (DeepSeek-V3 report, §3.3.2), so a few
// outputs in a million land up to ~1.5e-3 of the output RMS from the exact reference (measured on
// H100: 1–12 such values per case, the relative errors of small outputs up to 0.12). That is far
// below the FP8 rounding of the inputs themselves (e4m3: 2^-4 relative); the absolute term is 4e-3
// of the RMS instead of CheckBf16Close's 1e-3 — a wrong block, scale or row is off by the order of
// the RMS.
testing::GemmCheck CheckCutlassClose(const std::vector<uint16_t>& got,
                                     const std::vector<uint16_t>& want) {
  return testing::CheckBf16Close(got, want, /*rel=*/1e-2, /*rms_frac=*/4e-3);
}

// Runs one configuration on fresh device copies and checks against the reference.
void RunAndCheck(CutlassMoeGemmFp8& gemm, const Case& c, const Inputs& in, CutlassMoeGemmTile tile,
                 bool token_major_scales, int id) {
  DeviceBuffer<uint8_t> dx(in.x), dw(in.w);
  DeviceBuffer<float> dxs(in.xs), dws(in.ws);
  DeviceBuffer<int32_t> doff(in.off);
  DeviceBuffer<uint16_t> dout(in.want.size());
  dout.Fill(0xff);  // poison: rows outside every expert must keep it (as in `want`)
  std::vector<float> tm;
  if (token_major_scales) {
    const int64_t kb = c.k / 128;
    tm.resize(in.tokens * kb);
    for (int64_t t = 0; t < in.tokens; ++t) {
      for (int64_t j = 0; j < kb; ++j) tm[t * kb + j] = in.xs[j * in.ld + t];
    }
  }
  DeviceBuffer<float> dtm(tm);
  MoeGemmFp8Params p{dx.get(),   dxs.get(),  in.ld,     dw.get(),   dws.get(), in.wld,
                     doff.get(), dout.get(), in.tokens, in.experts, c.n,       c.k};
  ASSERT_TRUE(gemm.Run(p, tile, nullptr, token_major_scales ? dtm.get() : nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto got = dout.Download();
  const auto chk = CheckCutlassClose(got, in.want);
  EXPECT_EQ(chk.bad, 0) << "case " << id << " tile " << CutlassMoeGemmTileName(tile)
                        << (token_major_scales ? " token-major scales" : "") << ": "
                        << chk.Describe();
  std::cout << "cutlass case " << id << " " << CutlassMoeGemmTileName(tile)
            << (token_major_scales ? " (token-major scales)" : "") << " " << chk.Describe() << "\n";
}

std::unique_ptr<CutlassMoeGemmFp8> MakeGemm() {
  auto g = CutlassMoeGemmFp8::Create({/*max_experts=*/32, /*max_tokens=*/1024, /*max_n=*/7168,
                                      /*max_k=*/7168});
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? std::move(*g) : nullptr;
}

TEST(MoeGemmCutlassGpuTest, BothTilesMatchReference) {
  auto gemm = MakeGemm();
  ASSERT_NE(gemm, nullptr);
  std::cout << "device bytes " << gemm->device_bytes() << "\n";
  int id = 0;
  for (const Case& c : Cases()) {
    ++id;
    const Inputs in = MakeInputs(c, 500 + id);
    for (CutlassMoeGemmTile tile : {CutlassMoeGemmTile::kDecode, CutlassMoeGemmTile::kPrefill}) {
      RunAndCheck(*gemm, c, in, tile, /*token_major_scales=*/false, id);
      RunAndCheck(*gemm, c, in, tile, /*token_major_scales=*/true, id);
    }
  }
}

// Same inputs through ours and CUTLASS: both within tolerance of the reference, so also of each
// other (the bench compares their speed on exactly this contract).
TEST(MoeGemmCutlassGpuTest, AgreesWithOurs) {
  auto gemm = MakeGemm();
  ASSERT_NE(gemm, nullptr);
  const Case& c = Cases()[2];  // the decode regime (and the cheapest reference)
  const Inputs in = MakeInputs(c, 77);
  DeviceBuffer<uint8_t> dx(in.x), dw(in.w);
  DeviceBuffer<float> dxs(in.xs), dws(in.ws);
  DeviceBuffer<int32_t> doff(in.off);
  DeviceBuffer<uint16_t> ours(in.want.size()), lib(in.want.size());
  ours.Fill(0xff);
  lib.Fill(0xff);
  MoeGemmFp8Params p{dx.get(),   dxs.get(),  in.ld,     dw.get(),   dws.get(), in.wld,
                     doff.get(), ours.get(), in.tokens, in.experts, c.n,       c.k};
  ASSERT_TRUE(LaunchMoeGemmFp8(p, nullptr).ok());
  p.out = lib.get();
  ASSERT_TRUE(gemm->Run(p, CutlassMoeGemmTile::kDecode, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto ours_chk = testing::CheckBf16Close(ours.Download(), in.want);
  const auto lib_chk = CheckCutlassClose(lib.Download(), in.want);
  std::cout << "same inputs: ours " << ours_chk.Describe() << " | cutlass " << lib_chk.Describe()
            << "\n";
  EXPECT_EQ(ours_chk.bad, 0);
  EXPECT_EQ(lib_chk.bad, 0);
}

TEST(MoeGemmCutlassGpuTest, RefusesWhatItCannotRun) {
  auto gemm = MakeGemm();
  ASSERT_NE(gemm, nullptr);
  DeviceBuffer<uint8_t> x(64 * 256), w(2 * 256 * 256);
  DeviceBuffer<float> xs(2 * 64), ws(2 * 2 * 2);
  DeviceBuffer<int32_t> off(std::vector<int32_t>{0, 32, 64});
  DeviceBuffer<uint16_t> out(64 * 256);
  MoeGemmFp8Params p{x.get(),   xs.get(),  64, w.get(), ws.get(), 2,
                     off.get(), out.get(), 64, 2,       256,      256};
  EXPECT_TRUE(gemm->Run(p, CutlassMoeGemmTile::kDecode, nullptr).ok());
  p.n = 252;  // n % 8 != 0
  EXPECT_FALSE(gemm->Run(p, CutlassMoeGemmTile::kDecode, nullptr).ok());
  p.n = 256;
  p.experts = 33;  // over capacity (and over the offsets, but refused before any launch)
  EXPECT_FALSE(gemm->Run(p, CutlassMoeGemmTile::kPrefill, nullptr).ok());
  p.experts = 2;
  p.tokens = 2048;  // over capacity
  p.x_scale_ld = 2048;
  EXPECT_FALSE(gemm->Run(p, CutlassMoeGemmTile::kPrefill, nullptr).ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace r1::kernels
