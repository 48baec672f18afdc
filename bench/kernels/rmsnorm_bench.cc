// RMSNorm (+ residual) on R1 shapes; bytes = x (+ residual read/write) + out.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/rmsnorm/rmsnorm.h"
#include "kernels/rmsnorm/rmsnorm_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void PrintBw(const char* what, double us, double bytes) {
  const double tbs = bytes / us / 1e6;
  std::printf("%-44s %9.2f us %7.3f TB/s (%.2f of HBM %.2f)\n", what, us, tbs, tbs / bench::kHbmTBs,
              bench::kHbmTBs);
}

void Bench(int64_t rows, int64_t n, bool residual) {
  std::mt19937 rng(1);
  DeviceBuffer<uint16_t> x(rows * n), res(rows * n), out(rows * n);
  bench::FillTiled(x.get(), x.size(), kernels::testing::RandomBf16(1 << 20, rng));
  bench::FillTiled(res.get(), res.size(), kernels::testing::RandomBf16(1 << 20, rng));
  DeviceBuffer<uint16_t> w(kernels::testing::RandomBf16(n, rng));
  kernels::RmsNormParams p{
      x.get(), n, residual ? res.get() : nullptr, n, w.get(), out.get(), n, rows, n, 1e-6f};
  bench::Check(kernels::LaunchRmsNorm(p, nullptr), "rmsnorm");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchRmsNorm(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "rmsnorm rows=%ld n=%ld%s", static_cast<long>(rows),
                static_cast<long>(n), residual ? " +residual" : "");
  PrintBw(what, us, rows * n * 2.0 * (residual ? 4 : 2));
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t rows : {64, 4096}) {
    r1::Bench(rows, 7168, true);
    r1::Bench(rows, 1536, false);
  }
  r1::Bench(16384, 7168, true);
  return 0;
}
