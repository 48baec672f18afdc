// FP8 block-scaled GEMM on R1's real shapes (the activation quantiser has its own bench).
// Prints TFLOP/s against the FP8 ceiling for prefill-sized m and weight TB/s against the HBM
// ceiling for decode-sized m. usage: fp8_gemm_bench [--split_sweep]
// (--split_sweep: only the streaming kernel's split-K sweep over the decode step's dense shapes)
//
// Operand data: "normal" = N(0,1) values scaled so a 128-block's |max| lands near 448 and rounded
// to e4m3, the distribution real quantised weights and activations have; "codes" = uniformly
// random e4m3 bit patterns (every exponent equally likely), which makes the tensor cores draw
// more power and, on a power-capped card, run at lower clocks. The target shape runs with both.
#include <cublasLt.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "common/numeric.h"
#include "kernels/fp8_gemm/fp8_gemm.h"
#include "kernels/fp8_gemm/fp8_gemm_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

enum class Data { kNormal, kCodes };

// 16 MiB (+ a bit, so tiles don't line up with rows) of e4m3 operand data.
const std::vector<uint8_t>& Pattern(Data data) {
  static const auto* const normal = [] {
    std::mt19937 rng(7);
    std::normal_distribution<float> d(0.0f, 448.0f / 3.5f);
    auto* v = new std::vector<uint8_t>((size_t{16} << 20) + 4096);
    for (auto& b : *v) b = FloatToFp8E4m3(std::fmin(448.0f, std::fmax(-448.0f, d(rng))));
    return v;
  }();
  static const auto* const codes = [] {
    std::mt19937 rng(8);
    return new std::vector<uint8_t>(kernels::testing::RandomFp8((size_t{16} << 20) + 4096, rng));
  }();
  return data == Data::kNormal ? *normal : *codes;
}

// Times one shape. The first run of a shape times cuBLASLt's heuristic pick, autotunes, and
// times the tuned pick; repeats (other data, sustained) reuse the tuned pick. sustain_ms > 0 keeps
// the GPU busy with this GEMM that long before timing, so the number is the one the card holds at
// its power cap rather than the first burst.
void BenchGemm(int64_t m, int64_t n, int64_t k, const char* name, Data data = Data::kNormal,
               int sustain_ms = 0) {
  std::mt19937 rng(static_cast<unsigned>(m + n + k));
  const int64_t xld = kernels::Fp8GemmActScaleLd(m), wld = kernels::Fp8GemmWeightScaleLd(k);
  const auto& pattern = Pattern(data);
  DeviceBuffer<uint8_t> x(m * k);
  bench::FillTiled(x.get(), x.size(), pattern);
  DeviceBuffer<float> xs(kernels::testing::RandomFloat(k / 128 * xld, rng, 0.01f, 0.1f));
  DeviceBuffer<uint8_t> w(n * k);
  bench::FillTiled(w.get(), w.size(), pattern);
  DeviceBuffer<float> ws(kernels::testing::RandomFloat((n + 127) / 128 * wld, rng, 1e-3f, 1e-2f));
  DeviceBuffer<uint16_t> out(m * n);
  DeviceBuffer<uint8_t> work(kernels::Fp8GemmWorkspaceBytes(m, n, k));
  kernels::Fp8GemmParams p{x.get(), xs.get(), xld, w.get(), ws.get(),   wld,        out.get(),
                           n,       m,        n,   k,       work.get(), work.size()};
  kernels::Fp8GemmBackend used;
  bench::Check(kernels::LaunchFp8Gemm(p, nullptr, &used), "fp8 gemm");
  static std::vector<std::array<int64_t, 3>> tuned;
  const bool first =
      std::find(tuned.begin(), tuned.end(), std::array<int64_t, 3>{m, n, k}) == tuned.end();
  double us_heur = 0;
  if (used == kernels::Fp8GemmBackend::kCublasLt && first) {
    us_heur = bench::TimeUs([&] { (void)kernels::LaunchFp8Gemm(p, nullptr); });
    bench::Check(kernels::AutotuneFp8Gemm(p, nullptr), "autotune");
    tuned.push_back({m, n, k});
  }
  int warmup = 5;
  if (sustain_ms > 0) {
    const double est = bench::TimeUs([&] { (void)kernels::LaunchFp8Gemm(p, nullptr); }, 10, 3, 2);
    warmup = static_cast<int>(sustain_ms * 1e3 / est) + 1;
  }
  const double us =
      bench::TimeUs([&] { (void)kernels::LaunchFp8Gemm(p, nullptr); }, 10, 15, warmup);
  const double tflops = 2.0 * m * n * k / us / 1e6;
  const double wbytes = static_cast<double>(n) * k + m * k + 2.0 * m * n;
  const double tbs = wbytes / us / 1e6;
  std::printf(
      "%-10s m=%5ld n=%6ld k=%6ld %-6s%s %-8s %9.1f us %8.1f TFLOP/s (%.2f of FP8 %.0f) %6.2f TB/s "
      "(%.2f of HBM)",
      name, static_cast<long>(m), static_cast<long>(n), static_cast<long>(k),
      data == Data::kNormal ? "normal" : "codes", sustain_ms > 0 ? " sustained" : "",
      used == kernels::Fp8GemmBackend::kCublasLt ? "cublasLt" : "stream", us, tflops,
      tflops / bench::kFp8Tflops, bench::kFp8Tflops, tbs, tbs / bench::kHbmTBs);
  if (us_heur > 0) {
    std::printf("  [autotuned; heuristic pick %.1f us = %.1f TFLOP/s]", us_heur,
                2.0 * m * n * k / us_heur / 1e6);
  }
  std::printf("\n");
}

// The streaming kernel's split-K count swept for one decode shape, against the count
// ChooseStreamGemmConfig picks. The weight rotates through enough copies to exceed the L2 cache
// (as in a forward pass, where each layer's weight is read once), so small weights are not timed
// from L2.
void SweepStreamSplits(int64_t m, int64_t n, int64_t k, const char* name) {
  std::mt19937 rng(static_cast<unsigned>(m + n + k));
  const int64_t wld = kernels::Fp8GemmWeightScaleLd(k), kblocks = k / 128;
  const auto& pattern = Pattern(Data::kNormal);
  const int copies = static_cast<int>(std::clamp<int64_t>((160 << 20) / (n * k) + 1, 1, 32));
  std::vector<DeviceBuffer<uint8_t>> w;
  for (int c = 0; c < copies; ++c) {
    w.emplace_back(n * k);
    bench::FillTiled(w.back().get(), w.back().size(), pattern);
  }
  DeviceBuffer<uint8_t> x(m * k);
  bench::FillTiled(x.get(), x.size(), pattern);
  DeviceBuffer<float> xs(kernels::testing::RandomFloat(kblocks * m, rng, 0.01f, 0.1f));
  DeviceBuffer<float> ws(kernels::testing::RandomFloat((n + 127) / 128 * wld, rng, 1e-3f, 1e-2f));
  DeviceBuffer<uint16_t> out(m * n);
  DeviceBuffer<float> work(16 * m * n);
  int sms = 0;
  bench::Check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), "sm count");
  const auto cfg = kernels::ChooseStreamGemmConfig(1, m, n, k, sms, work.size() * 4);
  std::printf("%-10s m=%3ld n=%6ld k=%6ld (%d copies) chosen splits=%d |", name,
              static_cast<long>(m), static_cast<long>(n), static_cast<long>(k), copies, cfg.splits);
  for (int splits : {1, 2, 3, 4, 5, 6, 8, 11, 14, 16}) {
    if (splits > kblocks) continue;
    int next = 0;
    const double us = bench::TimeUs([&] {
      kernels::internal::StreamGemmFp8Args a;
      a.x = x.get();
      a.x_scale = xs.get();
      a.x_scale_ld = m;
      a.w = w[next].get();
      a.w_scale = ws.get();
      a.w_scale_ld = wld;
      a.out = out.get();
      a.out_ld = n;
      a.tokens = m;
      a.n = n;
      a.k = k;
      a.splits = splits;
      a.workspace = work.get();
      bench::Check(kernels::internal::LaunchStreamGemmFp8(a, nullptr), "stream gemm");
      next = (next + 1) % copies;
    });
    std::printf(" s%d %.1f us (%.2f TB/s)", splits, us, static_cast<double>(n) * k / us / 1e6);
  }
  std::printf("\n");
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--split_sweep") {
    r1::bench::PrintDevice();
    r1::bench::WarmUpGpu();
    // Every dense FP8 GEMM of a decode step (R1 shapes), at the batch sizes the streaming path
    // serves (m ≤ 32).
    for (int64_t m : {1, 8, 32}) {
      r1::SweepStreamSplits(m, 1536, 7168, "q_a_proj");
      r1::SweepStreamSplits(m, 576, 7168, "kv_a_proj");
      r1::SweepStreamSplits(m, 24576, 1536, "q_b_proj");
      r1::SweepStreamSplits(m, 7168, 16384, "o_proj");
      r1::SweepStreamSplits(m, 4096, 7168, "shared_w13");
      r1::SweepStreamSplits(m, 7168, 2048, "shared_w2");
      r1::SweepStreamSplits(m, 36864, 7168, "dense_w13");
      r1::SweepStreamSplits(m, 7168, 18432, "dense_w2");
    }
    return 0;
  }
  r1::bench::PrintDevice();
  std::printf("# cuBLASLt %zu (loaded), built against %d\n", cublasLtGetVersion(), CUBLAS_VERSION);
  r1::bench::WarmUpGpu();
  // Prefill-sized: the target shape first (o_proj: n 7168, k 16384) with both operand data, as a
  // first burst and after 2 s at the power cap; then the other projections.
  r1::BenchGemm(4096, 7168, 16384, "o_proj");
  r1::BenchGemm(4096, 7168, 16384, "o_proj", r1::Data::kCodes);
  r1::BenchGemm(4096, 7168, 16384, "o_proj", r1::Data::kNormal, 2000);
  r1::BenchGemm(4096, 7168, 16384, "o_proj", r1::Data::kCodes, 2000);
  r1::BenchGemm(4096, 24576, 1536, "q_b_proj");
  r1::BenchGemm(4096, 1536, 7168, "q_a_proj");
  r1::BenchGemm(4096, 576, 7168, "kv_a_proj");
  r1::BenchGemm(4096, 36864, 7168, "dense_w13");
  r1::BenchGemm(4096, 7168, 18432, "dense_w2");
  r1::BenchGemm(8192, 8192, 8192, "square");
  r1::BenchGemm(8192, 8192, 8192, "square", r1::Data::kCodes);
  // Decode-sized m: weight streaming.
  for (int64_t m : {1, 8, 32, 64, 128}) {
    r1::BenchGemm(m, 7168, 16384, "o_proj");
    r1::BenchGemm(m, 24576, 1536, "q_b_proj");
    r1::BenchGemm(m, 1536, 7168, "q_a_proj");
    r1::BenchGemm(m, 7168, 2048, "shared_w2");
  }
  return 0;
}
