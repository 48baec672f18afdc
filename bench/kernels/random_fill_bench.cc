// Random fill of synthetic weights (bf16, f32, e4m3) at 64 MiB and 1 GiB, 7168-wide rows; bytes =
// bytes written (the fill reads nothing). Also prints the time to fill 100 GB at that rate.
#include <cstdio>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/random_fill/random_fill.h"
#include "kernels/random_fill/random_fill_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void Bench(kernels::FillDtype dtype, const char* name, int64_t target_bytes) {
  const int64_t cols = 7168, es = kernels::FillDtypeBytes(dtype);
  const int64_t rows = target_bytes / (cols * es);
  const double bytes = static_cast<double>(rows * cols * es);
  DeviceBuffer<uint8_t> out(static_cast<size_t>(rows * cols * es));
  kernels::RandomFillParams p;
  p.out = out.get();
  p.dtype = dtype;
  p.rows = rows;
  p.cols = cols;
  p.ld = cols;
  p.seed = 1;
  p.amplitude = 0.05f;
  bench::Check(kernels::LaunchRandomFill(p, nullptr), "random_fill");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchRandomFill(p, nullptr); });
  const double gbs = bytes / us / 1e3;
  char what[96];
  std::snprintf(what, sizeof what, "random_fill %s %ld x %ld (%.0f MiB)", name,
                static_cast<long>(rows), static_cast<long>(cols), bytes / (1 << 20));
  std::printf("%-44s %9.2f us %8.1f GB/s %6.2f Gelem/s (%.2f of HBM %.2f TB/s) %6.1f s/100 GB\n",
              what, us, gbs, bytes / es / us / 1e3, gbs / 1e3 / bench::kHbmTBs, bench::kHbmTBs,
              100.0 / gbs);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t bytes : {int64_t{64} << 20, int64_t{1} << 30}) {
    r1::Bench(r1::kernels::FillDtype::kBf16, "bf16", bytes);
    r1::Bench(r1::kernels::FillDtype::kF32, "f32", bytes);
    r1::Bench(r1::kernels::FillDtype::kE4m3, "e4m3", bytes);
  }
  return 0;
}
