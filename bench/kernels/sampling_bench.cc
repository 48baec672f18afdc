// Sampling over R1's 129280-token vocabulary: greedy and T 0.6 / top-p 0.95.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/sampling/sampling.h"
#include "kernels/sampling/sampling_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void PrintBw(const char* what, double us, double bytes) {
  const double tbs = bytes / us / 1e6;
  std::printf("%-44s %9.2f us %7.3f TB/s (%.2f of HBM %.2f)\n", what, us, tbs, tbs / bench::kHbmTBs,
              bench::kHbmTBs);
}

void Bench(int64_t rows, bool greedy) {
  std::mt19937 rng(10);
  const int64_t vocab = 129280;
  DeviceBuffer<float> logits(rows * vocab);
  bench::FillTiled(logits.get(), logits.size(),
                   kernels::testing::RandomFloat(1 << 20, rng, -10.0f, 10.0f));
  DeviceBuffer<float> t(std::vector<float>(rows, greedy ? 0.0f : 0.6f)),
      tp(std::vector<float>(rows, 0.95f));
  DeviceBuffer<int32_t> tk(std::vector<int32_t>(rows, 0)), out(rows);
  DeviceBuffer<uint64_t> seed(std::vector<uint64_t>(rows, 1)), off(std::vector<uint64_t>(rows, 2));
  kernels::SamplingParams p{logits.get(), vocab,    rows,       vocab,     t.get(),
                            tk.get(),     tp.get(), seed.get(), off.get(), out.get()};
  bench::Check(kernels::LaunchSampling(p, nullptr), "sampling");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchSampling(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "sampling %s rows=%ld", greedy ? "greedy" : "T0.6 top-p0.95",
                static_cast<long>(rows));
  PrintBw(what, us, rows * vocab * 4.0);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t r : {1, 64, 256}) {
    r1::Bench(r, true);
    r1::Bench(r, false);
  }
  return 0;
}
