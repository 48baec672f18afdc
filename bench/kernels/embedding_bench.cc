// Embedding lookup (129280 × 7168 bf16 table); bytes = rows read + written.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/embedding/embedding.h"
#include "kernels/embedding/embedding_cuda.h"
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

void Bench(int64_t tokens) {
  std::mt19937 rng(3);
  const int64_t vocab = 129280, dim = 7168;
  DeviceBuffer<uint16_t> table(vocab * dim), out(tokens * dim);
  bench::FillTiled(table.get(), table.size(), kernels::testing::RandomBf16(1 << 20, rng));
  std::vector<int32_t> ids(tokens);
  for (auto& i : ids) i = static_cast<int32_t>(rng() % vocab);
  DeviceBuffer<int32_t> did(ids);
  kernels::EmbeddingParams p{did.get(), table.get(), out.get(), dim, tokens, vocab, dim};
  bench::Check(kernels::LaunchEmbedding(p, nullptr), "embedding");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchEmbedding(p, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "embedding tokens=%ld dim=7168", static_cast<long>(tokens));
  PrintBw(what, us, tokens * dim * 2.0 * 2);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t t : {64, 4096, 16384}) r1::Bench(t);
  return 0;
}
