// GPU test (label gpu): the streaming grouped GEMMs (FP8 W8A8 and INT4 W4A16) against the CPU
// references, with expert sizes covering every per-pass tile count (1, 2, 4 n8 tiles), several
// passes per expert, empty experts, a partial 128-row tile, and rows outside every expert
// (must stay untouched).
#include <iostream>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/int4_quant/int4_quant.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/gemm_check.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"

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
      {{0, 1, 9, 33, 17, 0, 8}, 3, 320, 384},
      {{70, 5}, 0, 256, 256},
      {{32, 8}, 1, 2048, 7168},  // R1 expert shape (down proj is 7168×2048; gate_up 4096×7168)
      // A small model's prefill: one K block, many rows for some experts.
      {{60, 3, 0, 41, 28, 97, 1, 34, 12, 0, 5, 66, 23, 19, 44, 15}, 0, 256, 128},
  };
  return cases;
}

TEST(MoeGemmGpuTest, Fp8MatchesReference) {
  int id = 0;
  for (const Case& c : Cases()) {
    std::mt19937 rng(++id);
    const auto off = Offsets(c.counts);
    const int64_t experts = c.counts.size(), tokens = off.back() + c.extra_rows;
    const int64_t ld = tokens + 5, wld = (c.k / 128 + 3) / 4 * 4, nb = (c.n + 127) / 128;
    auto x = testing::RandomFp8(tokens * c.k, rng);
    auto xs = testing::RandomFloat(c.k / 128 * ld, rng, 0.01f, 0.1f);
    auto w = testing::RandomFp8(experts * c.n * c.k, rng);
    auto ws = testing::RandomFloat(experts * nb * wld, rng, 1e-3f, 1e-2f);
    std::vector<uint16_t> want(tokens * c.n, 0xffff);
    MoeGemmFp8Params p{x.data(),   xs.data(),   ld,     w.data(), ws.data(), wld,
                       off.data(), want.data(), tokens, experts,  c.n,       c.k};
    ASSERT_TRUE(MoeGemmFp8Reference(p).ok());
    DeviceBuffer<uint8_t> dx(x), dw(w);
    DeviceBuffer<float> dxs(xs), dws(ws);
    DeviceBuffer<int32_t> doff(off);
    DeviceBuffer<uint16_t> dout(want.size());
    dout.Fill(0xff);
    p.x = dx.get();
    p.x_scale = dxs.get();
    p.w = dw.get();
    p.w_scale = dws.get();
    p.expert_offsets = doff.get();
    p.out = dout.get();
    ASSERT_TRUE(LaunchMoeGemmFp8(p, nullptr).ok());
    const auto got = dout.Download();
    const auto chk = testing::CheckBf16Close(got, want);
    EXPECT_EQ(chk.bad, 0) << "case " << id << ": " << chk.Describe();
    std::cout << "fp8 case " << id << " max_rel=" << chk.max_rel << "\n";
  }
}

TEST(MoeGemmGpuTest, Int4MatchesReference) {
  int id = 0;
  for (const Case& c : Cases()) {
    std::mt19937 rng(100 + ++id);
    const auto off = Offsets(c.counts);
    const int64_t experts = c.counts.size(), tokens = off.back() + c.extra_rows;
    auto x = testing::RandomBf16(tokens * c.k, rng);
    std::vector<uint8_t> w(experts * c.n * c.k / 2);
    for (auto& b : w) b = static_cast<uint8_t>(rng());
    std::vector<uint16_t> ws(experts * c.n * (c.k / 128));
    for (auto& s : ws) s = FloatToBf16(std::uniform_real_distribution<float>(1e-3f, 1e-2f)(rng));
    std::vector<uint16_t> want(tokens * c.n, 0xffff);
    MoeGemmInt4Params p{x.data(), w.data(), ws.data(), off.data(), want.data(),
                        tokens,   experts,  c.n,       c.k};
    ASSERT_TRUE(MoeGemmInt4Reference(p).ok());
    DeviceBuffer<uint16_t> dx(x), dws(ws), dout(want.size());
    DeviceBuffer<uint8_t> dw(w);
    DeviceBuffer<int32_t> doff(off);
    dout.Fill(0xff);
    p.x = dx.get();
    p.w = dw.get();
    p.w_scale = dws.get();
    p.expert_offsets = doff.get();
    p.out = dout.get();
    ASSERT_TRUE(LaunchMoeGemmInt4(p, nullptr).ok());
    const auto got = dout.Download();
    const auto chk = testing::CheckBf16Close(got, want);
    EXPECT_EQ(chk.bad, 0) << "case " << id << ": " << chk.Describe();
    std::cout << "int4 case " << id << " max_rel=" << chk.max_rel << "\n";
  }
}

}  // namespace
}  // namespace r1::kernels
