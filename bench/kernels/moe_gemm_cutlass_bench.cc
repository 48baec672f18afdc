// Our FP8 grouped expert GEMM (LaunchMoeGemmFp8) beside CUTLASS's blockwise-scaled grouped GEMM
// (CutlassMoeGemmFp8, both tile configurations) on the same inputs in one process: R1's expert
// shapes (gate_up n=4096 k=7168, down n=7168 k=2048), 32 local experts, all active with the same
// token count, 1 to 512 tokens per expert. Prints µs of each, ours/CUTLASS (the faster of its
// two tiles), weight TB/s (the bytes each call must read) and TFLOP/s, then a check that ours and
// CUTLASS agree; rows prefixed "table:" are MoeGemmFp8Timing rows for moe_gemm_backend.cc.
// CUTLASS's times include its setup kernel (group arguments and the activation-scale transpose
// from our group-major layout); "tm" is CUTLASS decode/prefill (whichever is faster) given
// token-major scales, without the transpose. usage: moe_gemm_cutlass_bench
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/gemm_check.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"
#include "kernels/moe_gemm/moe_gemm_cutlass.h"

namespace r1 {
namespace {

using kernels::CutlassMoeGemmFp8;
using kernels::CutlassMoeGemmTile;
using kernels::testing::DeviceBuffer;

constexpr int64_t kExperts = 32;
constexpr int64_t kTokenCounts[] = {1, 8, 16, 32, 64, 128, 256, 512};
constexpr int64_t kMaxPerExpert = 512;

void BenchShape(CutlassMoeGemmFp8& lib, int64_t n, int64_t k, const char* name) {
  std::mt19937 rng(static_cast<unsigned>(n * 7 + k));
  const int64_t kb = k / 128, nb = (n + 127) / 128, max_tokens = kExperts * kMaxPerExpert;
  // Weights and inputs sized for the largest count, reused (x_scale_ld = max_tokens ≥ tokens).
  DeviceBuffer<uint8_t> w(kExperts * n * k);
  bench::FillTiled(w.get(), w.size(), kernels::testing::RandomFp8((size_t{16} << 20) + 4096, rng));
  DeviceBuffer<float> ws(kernels::testing::RandomFloat(kExperts * nb * kb, rng, 1e-3f, 1e-2f));
  DeviceBuffer<uint8_t> x(kernels::testing::RandomFp8(max_tokens * k, rng));
  const auto xs_host = kernels::testing::RandomFloat(kb * max_tokens, rng, 0.01f, 0.1f);
  DeviceBuffer<float> xs(xs_host);
  DeviceBuffer<uint16_t> out_ours(max_tokens * n), out_lib(max_tokens * n);
  for (int64_t per : kTokenCounts) {
    const int64_t tokens = kExperts * per;
    std::vector<int32_t> off(kExperts + 1);
    for (int64_t e = 0; e <= kExperts; ++e) off[e] = static_cast<int32_t>(e * per);
    DeviceBuffer<int32_t> doff(off);
    // Token-major copy of the scales for the "tm" column.
    std::vector<float> tm(tokens * kb);
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t j = 0; j < kb; ++j) tm[t * kb + j] = xs_host[j * max_tokens + t];
    }
    DeviceBuffer<float> dtm(tm);
    kernels::MoeGemmFp8Params p{x.get(),    xs.get(),       max_tokens, w.get(),  ws.get(), kb,
                                doff.get(), out_ours.get(), tokens,     kExperts, n,        k};
    kernels::MoeGemmFp8Params q = p;
    q.out = out_lib.get();
    bench::Check(kernels::LaunchMoeGemmFp8(p, nullptr), "ours");
    bench::Check(lib.Run(q, CutlassMoeGemmTile::kDecode, nullptr), "cutlass decode");
    bench::Check(lib.Run(q, CutlassMoeGemmTile::kPrefill, nullptr), "cutlass prefill");
    bench::Check(lib.Run(q, CutlassMoeGemmTile::kDecode, nullptr, dtm.get()), "cutlass tm");
    bench::Check(cudaDeviceSynchronize(), "first runs");
    const double ours = bench::TimeUs([&] { (void)kernels::LaunchMoeGemmFp8(p, nullptr); });
    const double dec =
        bench::TimeUs([&] { (void)lib.Run(q, CutlassMoeGemmTile::kDecode, nullptr); });
    const double pre =
        bench::TimeUs([&] { (void)lib.Run(q, CutlassMoeGemmTile::kPrefill, nullptr); });
    const CutlassMoeGemmTile best_tile =
        dec <= pre ? CutlassMoeGemmTile::kDecode : CutlassMoeGemmTile::kPrefill;
    const double best = dec <= pre ? dec : pre;
    const double tm_us = bench::TimeUs([&] { (void)lib.Run(q, best_tile, nullptr, dtm.get()); });
    // Agreement on the last outputs (the faster tile's).
    bench::Check(kernels::LaunchMoeGemmFp8(p, nullptr), "ours");
    bench::Check(lib.Run(q, best_tile, nullptr), "cutlass");
    bench::Check(cudaDeviceSynchronize(), "agreement runs");
    std::vector<uint16_t> a(tokens * n), b(tokens * n);
    bench::Check(cudaMemcpy(a.data(), out_ours.get(), a.size() * 2, cudaMemcpyDeviceToHost), "dl");
    bench::Check(cudaMemcpy(b.data(), out_lib.get(), b.size() * 2, cudaMemcpyDeviceToHost), "dl");
    const auto agree = kernels::testing::CheckBf16Close(b, a, 2e-2, 2e-3);

    const double bytes = kExperts * (static_cast<double>(n) * k + nb * kb * 4.0);
    const double flop = 2.0 * tokens * n * k;
    auto tbs = [&](double us) { return bytes / us / 1e6; };
    auto tflops = [&](double us) { return flop / us / 1e6; };
    std::printf(
        "%-7s E=%ld tok/expert=%3ld  ours %8.1f us %5.2f TB/s %6.1f TFLOP/s | cutlass decode %8.1f "
        "us  prefill %8.1f us  best(%s) %5.2f TB/s %6.1f TFLOP/s  tm %8.1f us | ours/cutlass "
        "%.2f | agree bad=%ld max_rel=%.4f\n",
        name, static_cast<long>(kExperts), static_cast<long>(per), ours, tbs(ours), tflops(ours),
        dec, pre, kernels::CutlassMoeGemmTileName(best_tile), tbs(best), tflops(best), tm_us,
        ours / best, static_cast<long>(agree.bad), agree.max_rel);
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
      "# ceilings: HBM %.2f TB/s, FP8 %.0f TFLOP/s (DESIGN.md §13); TB/s counts weight bytes\n",
      r1::bench::kHbmTBs, r1::bench::kFp8Tflops);
  auto lib = r1::kernels::CutlassMoeGemmFp8::Create(
      {r1::kExperts, r1::kExperts * r1::kMaxPerExpert, /*max_n=*/7168, /*max_k=*/7168});
  r1::bench::Check(lib.status(), "CutlassMoeGemmFp8::Create");
  std::printf("# CutlassMoeGemmFp8 holds %.1f MB of device memory\n", (*lib)->device_bytes() / 1e6);
  r1::BenchShape(**lib, 4096, 7168, "gate_up");
  r1::BenchShape(**lib, 7168, 2048, "down");
  return 0;
}
