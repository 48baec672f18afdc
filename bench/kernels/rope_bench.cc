// Interleaved YaRN RoPE in place on q (128 heads × 64 rope dims of 192) and k_rope.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/rope/rope.h"
#include "kernels/rope/rope_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void PrintBw(const char* what, double us, double bytes) {
  const double tbs = bytes / us / 1e6;
  std::printf("%-44s %9.2f us %7.3f TB/s (%.2f of HBM %.2f)\n", what, us, tbs, tbs / bench::kHbmTBs,
              bench::kHbmTBs);
}

void Bench(int64_t tokens) {
  std::mt19937 rng(2);
  std::vector<float> cs, sn;
  kernels::BuildRopeTable(kernels::YarnConfig{}, 16384, &cs, &sn);
  DeviceBuffer<float> dcs(cs), dsn(sn);
  DeviceBuffer<uint16_t> q(tokens * 128 * 192);
  bench::FillTiled(q.get(), q.size(), kernels::testing::RandomBf16(1 << 20, rng));
  std::vector<int32_t> pos(tokens);
  for (int64_t t = 0; t < tokens; ++t) pos[t] = static_cast<int32_t>(t % 16384);
  DeviceBuffer<int32_t> dpos(pos);
  kernels::RopeParams p{q.get() + 128, 128 * 192, 192,       tokens, 128, 64,
                        dpos.get(),    dcs.get(), dsn.get(), 16384};
  bench::Check(kernels::LaunchRope(p, nullptr), "rope");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchRope(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "rope q tokens=%ld heads=128", static_cast<long>(tokens));
  PrintBw(what, us, tokens * 128 * 64 * 2.0 * 2);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t t : {64, 4096, 16384}) r1::Bench(t);
  return 0;
}
