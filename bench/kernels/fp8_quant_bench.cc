// FP8 per-token 128-group activation quantisation; bytes = bf16 in + fp8 out + scales.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/fp8_quant/fp8_quant.h"
#include "kernels/fp8_quant/fp8_quant_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void PrintBw(const char* what, double us, double bytes) {
  const double tbs = bytes / us / 1e6;
  std::printf("%-44s %9.2f us %7.3f TB/s (%.2f of HBM %.2f)\n", what, us, tbs, tbs / bench::kHbmTBs,
              bench::kHbmTBs);
}

void Bench(int64_t rows, int64_t cols) {
  std::mt19937 rng(5);
  DeviceBuffer<uint16_t> x(rows * cols);
  bench::FillTiled(x.get(), x.size(), kernels::testing::RandomBf16(1 << 20, rng));
  DeviceBuffer<uint8_t> q(rows * cols);
  DeviceBuffer<float> s(rows * cols / 128);
  kernels::Fp8QuantParams p{
      .x = x.get(), .x_stride = cols, .out = q.get(), .scale = s.get(), .rows = rows, .cols = cols};
  kernels::SetGroupMajorScales(p, rows);
  bench::Check(kernels::LaunchFp8Quant(p, nullptr), "quant");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchFp8Quant(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "fp8_quant rows=%ld cols=%ld", static_cast<long>(rows),
                static_cast<long>(cols));
  PrintBw(what, us, rows * cols * 3.0 + rows * cols / 128 * 4.0);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  r1::Bench(64, 7168);
  r1::Bench(4096, 7168);
  r1::Bench(4096, 16384);
  r1::Bench(16384, 7168);
  return 0;
}
