// Fused noaux_tc routing (256 experts, 8 groups, keep 4, top-8); bytes = logits read.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gating/moe_gating.h"
#include "kernels/moe_gating/moe_gating_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void PrintBw(const char* what, double us, double bytes) {
  const double tbs = bytes / us / 1e6;
  std::printf("%-44s %9.2f us %7.3f TB/s (%.2f of HBM %.2f)\n", what, us, tbs, tbs / bench::kHbmTBs,
              bench::kHbmTBs);
}

void Bench(int64_t tokens) {
  std::mt19937 rng(7);
  DeviceBuffer<float> logits(kernels::testing::RandomFloat(tokens * 256, rng, -4.0f, 4.0f));
  DeviceBuffer<float> bias(kernels::testing::RandomFloat(256, rng, -0.1f, 0.1f));
  DeviceBuffer<int32_t> ids(tokens * 8);
  DeviceBuffer<float> w(tokens * 8);
  kernels::MoeGatingParams p{logits.get(), bias.get(), ids.get(), w.get(), tokens};
  bench::Check(kernels::LaunchMoeGating(p, nullptr), "gating");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchMoeGating(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "moe_gating tokens=%ld", static_cast<long>(tokens));
  PrintBw(what, us, tokens * 256 * 4.0 + tokens * 8 * 8.0);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t t : {1, 64, 4096, 16384}) r1::Bench(t);
  return 0;
}
