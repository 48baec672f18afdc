// Our INT4 W4A16 grouped expert GEMM (LaunchMoeGemmInt4) beside CUTLASS's mixed-input grouped
// GEMM (CutlassMoeGemmInt4, both tile configurations) on the same inputs in one process: R1's
// expert shapes (gate_up n=4096 k=7168, down n=7168 k=2048), 32 local experts, all active with the
// same token count, 1 to 512 tokens per expert. Prints µs of each, ours/CUTLASS (the faster of its
// two tiles), weight TB/s (the int4 weights and bf16 scales each call must read) and TFLOP/s, then
// a check that ours and CUTLASS agree; rows prefixed "table:" are MoeGemmInt4Timing rows for
// moe_gemm_backend.cc. CUTLASS's times include its setup kernel (group arguments from the device
// offsets). Also prints the one-time weight preparation (PrepareCutlassMoeGemmInt4Weights) time per
// shape. usage: moe_gemm_cutlass_int4_bench
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/gemm_check.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"
#include "kernels/moe_gemm/moe_gemm_cutlass_int4.h"

namespace r1 {
namespace {

using kernels::CutlassInt4Tile;
using kernels::CutlassMoeGemmInt4;
using kernels::testing::DeviceBuffer;

constexpr int64_t kExperts = 32;
constexpr int64_t kTokenCounts[] = {1, 4, 8, 16, 32, 64, 256, 512};
constexpr int64_t kMaxPerExpert = 512;

void BenchShape(CutlassMoeGemmInt4& lib, int64_t n, int64_t k, const char* name) {
  std::mt19937 rng(static_cast<unsigned>(n * 7 + k));
  const int64_t groups = k / 128, max_tokens = kExperts * kMaxPerExpert;
  // Weights: random bytes (every nibble a valid int4), scales with 5 significant bits so that
  // CUTLASS's bf16 dequantisation is exact and the agreement check is tight.
  DeviceBuffer<uint8_t> w(kExperts * n * k / 2), w_prep(kExperts * n * k / 2);
  {
    std::vector<uint8_t> pattern((size_t{16} << 20) + 4096);
    for (auto& b : pattern) b = static_cast<uint8_t>(rng());
    bench::FillTiled(w.get(), w.size(), pattern);
  }
  std::vector<uint16_t> ws_host(kExperts * groups * n);
  for (auto& s : ws_host) {
    s = FloatToBf16(std::ldexp(static_cast<float>(16 + rng() % 16) / 16.0f, -8));
  }
  DeviceBuffer<uint16_t> ws(ws_host);
  DeviceBuffer<uint16_t> x(kernels::testing::RandomBf16(max_tokens * k, rng));
  DeviceBuffer<uint16_t> out_ours(max_tokens * n), out_lib(max_tokens * n);

  // One-time preparation (synchronous; includes its temporary's cudaMalloc/cudaFree).
  bench::Check(cudaDeviceSynchronize(), "before prepare");
  const auto t0 = std::chrono::steady_clock::now();
  bench::Check(
      kernels::PrepareCutlassMoeGemmInt4Weights(w.get(), kExperts, n, k, w_prep.get(), nullptr),
      "prepare");
  const double prep_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("# %s: PrepareCutlassMoeGemmInt4Weights %ld experts (%.0f MB int4) %.1f ms\n", name,
              static_cast<long>(kExperts), w.size() / 1e6, prep_ms);

  for (int64_t per : kTokenCounts) {
    const int64_t tokens = kExperts * per;
    std::vector<int32_t> off(kExperts + 1);
    for (int64_t e = 0; e <= kExperts; ++e) off[e] = static_cast<int32_t>(e * per);
    DeviceBuffer<int32_t> doff(off);
    kernels::MoeGemmInt4Params p{x.get(), w.get(),  ws.get(), doff.get(), out_ours.get(),
                                 tokens,  kExperts, n,        k};
    kernels::MoeGemmInt4Params q = p;
    q.w = w_prep.get();
    q.out = out_lib.get();
    bench::Check(kernels::LaunchMoeGemmInt4(p, nullptr), "ours");
    bench::Check(lib.Run(q, CutlassInt4Tile::kDecode, nullptr), "cutlass decode");
    bench::Check(lib.Run(q, CutlassInt4Tile::kPrefill, nullptr), "cutlass prefill");
    bench::Check(cudaDeviceSynchronize(), "first runs");
    const double ours = bench::TimeUs([&] { (void)kernels::LaunchMoeGemmInt4(p, nullptr); });
    const double dec = bench::TimeUs([&] { (void)lib.Run(q, CutlassInt4Tile::kDecode, nullptr); });
    const double pre = bench::TimeUs([&] { (void)lib.Run(q, CutlassInt4Tile::kPrefill, nullptr); });
    const CutlassInt4Tile best_tile =
        dec <= pre ? CutlassInt4Tile::kDecode : CutlassInt4Tile::kPrefill;
    const double best = dec <= pre ? dec : pre;
    // Agreement on the last outputs (the faster tile's).
    bench::Check(kernels::LaunchMoeGemmInt4(p, nullptr), "ours");
    bench::Check(lib.Run(q, best_tile, nullptr), "cutlass");
    bench::Check(cudaDeviceSynchronize(), "agreement runs");
    std::vector<uint16_t> a(tokens * n), b(tokens * n);
    bench::Check(cudaMemcpy(a.data(), out_ours.get(), a.size() * 2, cudaMemcpyDeviceToHost), "dl");
    bench::Check(cudaMemcpy(b.data(), out_lib.get(), b.size() * 2, cudaMemcpyDeviceToHost), "dl");
    const auto agree = kernels::testing::CheckBf16Close(b, a, 2e-2, 2e-3);

    const double bytes = kExperts * (static_cast<double>(n) * k / 2 + groups * n * 2.0);
    const double flop = 2.0 * tokens * n * k;
    auto tbs = [&](double us) { return bytes / us / 1e6; };
    auto tflops = [&](double us) { return flop / us / 1e6; };
    std::printf(
        "%-7s E=%ld tok/expert=%3ld  ours %8.1f us %5.2f TB/s %6.1f TFLOP/s | cutlass decode %8.1f "
        "us  prefill %8.1f us  best(%s) %5.2f TB/s %6.1f TFLOP/s | ours/cutlass %.2f | agree "
        "bad=%ld max_rel=%.4f\n",
        name, static_cast<long>(kExperts), static_cast<long>(per), ours, tbs(ours), tflops(ours),
        dec, pre, kernels::CutlassInt4TileName(best_tile), tbs(best), tflops(best), ours / best,
        static_cast<long>(agree.bad), agree.max_rel);
    std::printf("table: {%ld, %ld, %ld, %ld, %.1f, %.1f, %.1f},\n", static_cast<long>(per),
                static_cast<long>(kExperts), static_cast<long>(n), static_cast<long>(k), ours, dec,
                pre);
  }
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  std::printf(
      "# ceilings: HBM %.2f TB/s, BF16 %.0f TFLOP/s (DESIGN.md §13); TB/s counts int4 weight and "
      "bf16 scale bytes\n",
      r1::bench::kHbmTBs, r1::bench::kBf16Tflops);
  auto lib = r1::kernels::CutlassMoeGemmInt4::Create(
      {r1::kExperts, r1::kExperts * r1::kMaxPerExpert, /*max_n=*/7168, /*max_k=*/7168});
  r1::bench::Check(lib.status(), "CutlassMoeGemmInt4::Create");
  std::printf("# CutlassMoeGemmInt4 holds %.1f MB of device memory\n",
              (*lib)->device_bytes() / 1e6);
  r1::BenchShape(**lib, 4096, 7168, "gate_up");
  r1::BenchShape(**lib, 7168, 2048, "down");
  return 0;
}
