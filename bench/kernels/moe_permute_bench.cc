// Token permutation (top-8 of 256), fp8 row + scale gather and the weighted combine (7168).
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_permute/moe_permute.h"
#include "kernels/moe_permute/moe_permute_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void PrintBw(const char* what, double us, double bytes) {
  const double tbs = bytes / us / 1e6;
  std::printf("%-44s %9.2f us %7.3f TB/s (%.2f of HBM %.2f)\n", what, us, tbs, tbs / bench::kHbmTBs,
              bench::kHbmTBs);
}

void Bench(int64_t tokens) {
  std::mt19937 rng(8);
  const int k = 8, experts = 256;
  const int64_t pairs = tokens * k, dim = 7168;
  std::vector<int32_t> idv(pairs);
  for (auto& e : idv) e = static_cast<int32_t>(rng() % experts);
  DeviceBuffer<int32_t> ids(idv), off(experts + 1), perm(pairs), inv(pairs);
  kernels::MoePermuteParams pp{ids.get(), tokens, k, experts, off.get(), perm.get(), inv.get()};
  bench::Check(kernels::LaunchMoePermute(pp, nullptr), "permute");
  const double us_p = bench::TimeUs([&] { (void)kernels::LaunchMoePermute(pp, nullptr); });
  DeviceBuffer<uint8_t> x(tokens * dim), xp(pairs * dim);
  DeviceBuffer<float> xs(dim / 128 * tokens), xsp(dim / 128 * pairs);
  kernels::MoeGatherRowsParams gp{x.get(), dim, xp.get(), dim, dim, perm.get(), k, pairs, nullptr};
  kernels::MoeGatherScalesParams sp{xs.get(),   tokens, xsp.get(), pairs,  dim / 128,
                                    perm.get(), k,      pairs,     nullptr};
  const double us_g = bench::TimeUs([&] {
    (void)kernels::LaunchMoeGatherRows(gp, nullptr);
    (void)kernels::LaunchMoeGatherScales(sp, nullptr);
  });
  DeviceBuffer<uint16_t> y(pairs * dim), add(tokens * dim), out(tokens * dim);
  bench::FillTiled(y.get(), y.size(), kernels::testing::RandomBf16(1 << 20, rng));
  DeviceBuffer<float> w(kernels::testing::RandomFloat(pairs, rng, 0.0f, 1.0f));
  kernels::MoeCombineParams cp{y.get(), inv.get(), w.get(), add.get(), out.get(), tokens, k, dim};
  const double us_c = bench::TimeUs([&] { (void)kernels::LaunchMoeCombine(cp, nullptr); });
  char what[96];
  std::snprintf(what, sizeof what, "moe_permute tokens=%ld (routing only)",
                static_cast<long>(tokens));
  std::printf("%-44s %9.2f us\n", what, us_p);
  std::snprintf(what, sizeof what, "moe_gather fp8 rows+scales tokens=%ld",
                static_cast<long>(tokens));
  PrintBw(what, us_g, pairs * dim * 2.0 + pairs * dim / 128 * 8.0);
  std::snprintf(what, sizeof what, "moe_combine bf16 tokens=%ld", static_cast<long>(tokens));
  PrintBw(what, us_c, pairs * dim * 2.0 + tokens * dim * 4.0);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  for (int64_t t : {64, 512, 4096}) r1::Bench(t);
  return 0;
}
