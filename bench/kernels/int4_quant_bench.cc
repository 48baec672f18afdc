// FP8 → INT4 expert conversion at load (spec §13.3): one MoE layer's local experts.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/int4_quant/int4_quant.h"
#include "kernels/int4_quant/int4_quant_cuda.h"
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

void Bench(int64_t experts) {
  std::mt19937 rng(6);
  const int64_t n = 4096, k = 7168, ld = 56;
  DeviceBuffer<uint8_t> w(experts * n * k), q(experts * n * k / 2);
  bench::FillTiled(w.get(), w.size(), kernels::testing::RandomFp8(1 << 22, rng));
  DeviceBuffer<float> ws(
      kernels::testing::RandomFloat(experts * (n / 128) * ld, rng, 1e-3f, 1e-2f));
  DeviceBuffer<uint16_t> s(experts * n * k / 128);
  auto run = [&] {
    for (int64_t e = 0; e < experts; ++e) {
      (void)kernels::LaunchInt4FromFp8({w.get() + e * n * k, ws.get() + e * (n / 128) * ld, ld,
                                        q.get() + e * n * k / 2, s.get() + e * n * k / 128, n, k},
                                       nullptr);
    }
  };
  run();
  const double us = bench::TimeUs(run, 2, 5, 1);
  char what[96];
  std::snprintf(what, sizeof what, "int4_from_fp8 %ld × gate_up 4096×7168",
                static_cast<long>(experts));
  PrintBw(what, us, experts * n * k * 1.5 + experts * n * k / 128 * 2.0);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  r1::Bench(32);
  return 0;
}
