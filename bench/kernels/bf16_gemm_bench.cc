// cuBLASLt BF16 GEMM on R1 shapes: lm_head, router (f32 out); TFLOP/s vs the BF16 ceiling.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/bf16_gemm/bf16_gemm.h"
#include "kernels/bf16_gemm/bf16_gemm_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void Bench(int64_t m, int64_t n, int64_t k, bool f32, const char* name) {
  std::mt19937 rng(9);
  DeviceBuffer<uint16_t> x(m * k), w(n * k), ob(f32 ? 1 : m * n);
  DeviceBuffer<float> of(f32 ? m * n : 1);
  bench::FillTiled(x.get(), x.size(), kernels::testing::RandomBf16(1 << 20, rng));
  bench::FillTiled(w.get(), w.size(), kernels::testing::RandomBf16(1 << 20, rng, 0.05f));
  DeviceBuffer<uint8_t> work(size_t{32} << 20);
  kernels::Bf16GemmParams p{
      x.get(), k, w.get(),    k,          f32 ? nullptr : ob.get(), f32 ? of.get() : nullptr, n, m,
      n,       k, work.get(), work.size()};
  bench::Check(kernels::LaunchBf16Gemm(p, nullptr), "bf16 gemm");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchBf16Gemm(p, nullptr); });
  const double tflops = 2.0 * m * n * k / us / 1e6, tbs = (n * k * 2.0 + m * k * 2.0) / us / 1e6;
  std::printf(
      "%-10s m=%5ld n=%6ld k=%5ld %9.1f us %7.1f TFLOP/s (%.2f of BF16 %.0f) %5.2f TB/s weights "
      "(%.2f of HBM)\n",
      name, static_cast<long>(m), static_cast<long>(n), static_cast<long>(k), us, tflops,
      tflops / bench::kBf16Tflops, bench::kBf16Tflops, tbs, tbs / bench::kHbmTBs);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  r1::Bench(8192, 8192, 8192, false, "square");
  for (int64_t m : {1, 64, 4096}) r1::Bench(m, 129280, 7168, false, "lm_head");
  for (int64_t m : {64, 4096}) r1::Bench(m, 256, 7168, true, "router");
  return 0;
}
