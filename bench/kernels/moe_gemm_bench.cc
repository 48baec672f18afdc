// Grouped expert GEMM in the decode regime on R1's expert shapes (gate+up 4096×7168, down
// 7168×2048), 32 local experts (256 routed experts over 8 GPUs), all active with the same token
// count. Prints weight TB/s (the bytes each call must read) against the HBM ceiling, for FP8
// W8A8 and INT4 W4A16. usage: moe_gemm_bench
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/int4_quant/int4_quant.h"
#include "kernels/int4_quant/int4_quant_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void Bench(int64_t experts, int64_t per_expert, int64_t n, int64_t k, const char* name) {
  std::mt19937 rng(static_cast<unsigned>(n * 3 + k + per_expert));
  const int64_t tokens = experts * per_expert, wld = (k / 128 + 3) / 4 * 4, nb = (n + 127) / 128;
  std::vector<int32_t> off(experts + 1);
  for (int64_t e = 0; e <= experts; ++e) off[e] = static_cast<int32_t>(e * per_expert);
  DeviceBuffer<int32_t> doff(off);
  // FP8 weights (random codes) and their INT4 conversion.
  DeviceBuffer<uint8_t> w(experts * n * k);
  bench::FillTiled(w.get(), w.size(), kernels::testing::RandomFp8((size_t{16} << 20) + 4096, rng));
  DeviceBuffer<float> ws(kernels::testing::RandomFloat(experts * nb * wld, rng, 1e-3f, 1e-2f));
  DeviceBuffer<uint8_t> x8(kernels::testing::RandomFp8(tokens * k, rng));
  DeviceBuffer<float> xs(kernels::testing::RandomFloat(k / 128 * tokens, rng, 0.01f, 0.1f));
  DeviceBuffer<uint16_t> x16(kernels::testing::RandomBf16(tokens * k, rng));
  DeviceBuffer<uint16_t> out(tokens * n);
  DeviceBuffer<uint8_t> w4(experts * n * k / 2);
  DeviceBuffer<uint16_t> s4(experts * n * k / 128);
  for (int64_t e = 0; e < experts; ++e) {
    bench::Check(
        kernels::LaunchInt4FromFp8({w.get() + e * n * k, ws.get() + e * nb * wld, wld,
                                    w4.get() + e * n * k / 2, s4.get() + e * n * k / 128, n, k},
                                   nullptr),
        "int4 convert");
  }
  kernels::MoeGemmFp8Params p8{x8.get(),   xs.get(),  tokens, w.get(), ws.get(), wld,
                               doff.get(), out.get(), tokens, experts, n,        k};
  kernels::MoeGemmInt4Params p4{x16.get(), w4.get(), s4.get(), doff.get(), out.get(),
                                tokens,    experts,  n,        k};
  bench::Check(kernels::LaunchMoeGemmFp8(p8, nullptr), "fp8");
  bench::Check(kernels::LaunchMoeGemmInt4(p4, nullptr), "int4");
  const double us8 = bench::TimeUs([&] { (void)kernels::LaunchMoeGemmFp8(p8, nullptr); });
  const double us4 = bench::TimeUs([&] { (void)kernels::LaunchMoeGemmInt4(p4, nullptr); });
  const double b8 = experts * (static_cast<double>(n) * k + nb * (k / 128) * 4.0);
  const double b4 = experts * (static_cast<double>(n) * k / 2 + n * (k / 128) * 2.0);
  std::printf(
      "%-7s E=%ld tok/expert=%3ld  FP8 %8.1f us %5.2f TB/s (%.2f of HBM)  INT4 %8.1f us %5.2f TB/s "
      "(%.2f of HBM)\n",
      name, static_cast<long>(experts), static_cast<long>(per_expert), us8, b8 / us8 / 1e6,
      b8 / us8 / 1e6 / bench::kHbmTBs, us4, b4 / us4 / 1e6, b4 / us4 / 1e6 / bench::kHbmTBs);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  std::printf("# ceiling: HBM %.2f TB/s (copy, DESIGN.md §13); target ≥ 3.2 TB/s of weight bytes\n",
              r1::bench::kHbmTBs);
  // 33–64 tokens per expert take one FP8 pass (two for INT4): a batch of 128–256 sequences per
  // rank at W = 8.
  for (int64_t t : {1, 4, 8, 16, 32, 48, 64}) r1::Bench(32, t, 4096, 7168, "gate_up");
  for (int64_t t : {1, 8, 32, 64}) r1::Bench(32, t, 7168, 2048, "down");
  return 0;
}
