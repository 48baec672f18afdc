// SwiGLU activation to bf16 and fused with FP8 quantisation (expert 2048, dense 18432).
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/fp8_quant/fp8_quant.h"
#include "kernels/fp8_quant/fp8_quant_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/silu_mul/silu_mul.h"
#include "kernels/silu_mul/silu_mul_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void PrintBw(const char* what, double us, double bytes) {
  const double tbs = bytes / us / 1e6;
  std::printf("%-44s %9.2f us %7.3f TB/s (%.2f of HBM %.2f)\n", what, us, tbs, tbs / bench::kHbmTBs,
              bench::kHbmTBs);
}

void Bench(int64_t rows, int64_t n) {
  std::mt19937 rng(4);
  DeviceBuffer<uint16_t> x(rows * 2 * n), out(rows * n);
  bench::FillTiled(x.get(), x.size(), kernels::testing::RandomBf16(1 << 20, rng));
  kernels::SiluMulParams p{x.get(), 2 * n, out.get(), n, rows, n};
  bench::Check(kernels::LaunchSiluMul(p, nullptr), "silu_mul");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchSiluMul(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "silu_mul bf16 rows=%ld n=%ld", static_cast<long>(rows),
                static_cast<long>(n));
  PrintBw(what, us, rows * n * 2.0 * 3);
  DeviceBuffer<uint8_t> q(rows * n);
  DeviceBuffer<float> s(rows * n / 128);
  kernels::Fp8QuantParams qp{.x = x.get(),
                             .x_stride = 2 * n,
                             .out = q.get(),
                             .scale = s.get(),
                             .rows = rows,
                             .cols = n,
                             .silu_mul = true};
  kernels::SetGroupMajorScales(qp, rows);
  bench::Check(kernels::LaunchFp8Quant(qp, nullptr), "silu quant");
  const double us2 = bench::TimeUs([&] { (void)kernels::LaunchFp8Quant(qp, nullptr); });
  std::snprintf(what, sizeof what, "silu_mul+fp8 quant rows=%ld n=%ld", static_cast<long>(rows),
                static_cast<long>(n));
  PrintBw(what, us2, rows * n * (4.0 + 1.0) + rows * n / 128 * 4.0);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  r1::Bench(256, 2048);
  r1::Bench(8192, 2048);
  r1::Bench(4096, 18432);
  return 0;
}
