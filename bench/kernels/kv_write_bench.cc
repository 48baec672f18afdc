// Latent-cache row write (KvWrite) and gather (KvGather) at R1's row width (512 + 64 bf16) into a
// 4096-page cache with shuffled slots; bytes = rows read + written.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/kv_write/kv_write.h"
#include "kernels/kv_write/kv_write_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void PrintBw(const char* what, double us, double bytes) {
  const double tbs = bytes / us / 1e6;
  std::printf("%-44s %9.2f us %7.3f TB/s (%.2f of HBM %.2f)\n", what, us, tbs, tbs / bench::kHbmTBs,
              bench::kHbmTBs);
}

void Bench(int64_t tokens) {
  std::mt19937 rng(5);
  const int64_t row = 576, pages = 4096;
  DeviceBuffer<uint16_t> cache(pages * 64 * row), rows(tokens * row);
  bench::FillTiled(rows.get(), rows.size(), kernels::testing::RandomBf16(1 << 16, rng));
  std::vector<int32_t> slots(pages * 64);
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), rng);
  slots.resize(tokens);
  DeviceBuffer<int32_t> dslots(slots);
  kernels::KvWriteParams w{rows.get(), row, dslots.get(), cache.get(), pages, row, tokens};
  kernels::KvGatherParams g{cache.get(), pages, row, dslots.get(), rows.get(), row, tokens};
  bench::Check(kernels::LaunchKvWrite(w, nullptr), "kv_write");
  bench::Check(kernels::LaunchKvGather(g, nullptr), "kv_gather");
  const double bytes = tokens * row * 2.0 * 2;
  char what[96];
  std::snprintf(what, sizeof what, "kv_write  tokens=%ld row=576", static_cast<long>(tokens));
  PrintBw(what, bench::TimeUs([&] { (void)kernels::LaunchKvWrite(w, nullptr); }), bytes);
  std::snprintf(what, sizeof what, "kv_gather tokens=%ld row=576", static_cast<long>(tokens));
  PrintBw(what, bench::TimeUs([&] { (void)kernels::LaunchKvGather(g, nullptr); }), bytes);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t t : {64, 4096, 65536}) r1::Bench(t);
  return 0;
}
