// Logprobs over R1's 129280-token vocabulary: the chosen token's logprob alone (top_n 0) and with
// 20 alternatives. Bytes: the logits read once (one pass); the outputs are negligible.
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/logprobs/logprobs.h"
#include "kernels/logprobs/logprobs_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

constexpr int64_t kVocab = 129280;

void PrintBw(const char* what, double us, double bytes) {
  const double gbs = bytes / us / 1e3;
  std::printf("%-52s %9.2f us %8.1f GB/s (%.3f of HBM %.0f GB/s)\n", what, us, gbs,
              gbs / (bench::kHbmTBs * 1e3), bench::kHbmTBs * 1e3);
}

void Bench(int64_t rows, int32_t top_n) {
  std::mt19937 rng(12);
  DeviceBuffer<float> logits(rows * kVocab), out(rows), top(rows * top_n);
  bench::FillTiled(logits.get(), logits.size(),
                   kernels::testing::RandomFloat(1 << 20, rng, -10.0f, 10.0f));
  std::vector<int32_t> chosen(rows);
  for (int64_t r = 0; r < rows; ++r) chosen[r] = static_cast<int32_t>((r * 7919) % kVocab);
  DeviceBuffer<int32_t> dchosen(chosen), ids(rows * top_n);
  const kernels::LogprobsParams p{logits.get(),
                                  kVocab,
                                  rows,
                                  kVocab,
                                  dchosen.get(),
                                  top_n,
                                  out.get(),
                                  top_n ? ids.get() : nullptr,
                                  top_n ? top.get() : nullptr};
  bench::Check(kernels::LaunchLogprobs(p, nullptr), "logprobs");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchLogprobs(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "logprobs top_n=%d rows=%ld", top_n, static_cast<long>(rows));
  PrintBw(what, us, rows * kVocab * 4.0);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t r : {1, 8, 64, 256}) {
    r1::Bench(r, 0);
    r1::Bench(r, 20);
  }
  return 0;
}
