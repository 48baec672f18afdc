// Naive-form MLA prefill attention at R1's widths (128 heads, nope 128, rope 64, v 128): a full
// 4096-token prefill and a 1024-token chunk after 3072 cached positions. Prints time, TFLOP/s
// of the causal work (2·heads·(nope + rope + v) per visible (token, position) pair) and the
// ratio to the BF16 GEMM ceiling. usage: mla_prefill_bench
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/mla_prefill/mla_prefill.h"
#include "kernels/mla_prefill/mla_prefill_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void Bench(int64_t tokens, int64_t q_start) {
  const int64_t heads = 128, nope = 128, rope = 64, vd = 128, kv_len = q_start + tokens;
  std::mt19937 rng(static_cast<unsigned>(tokens + q_start));
  const auto pattern = kernels::testing::RandomBf16((size_t{4} << 20) + 1000, rng, 0.5f);
  DeviceBuffer<uint16_t> q(tokens * heads * (nope + rope)), kv(kv_len * heads * (nope + vd)),
      kr(kv_len * rope), out(tokens * heads * vd);
  bench::FillTiled(q.get(), q.size(), pattern);
  bench::FillTiled(kv.get(), kv.size(), pattern);
  bench::FillTiled(kr.get(), kr.size(), pattern);
  kernels::MlaPrefillParams p;
  p.q = q.get();
  p.q_token_stride = heads * (nope + rope);
  p.q_head_stride = nope + rope;
  p.kv = kv.get();
  p.kv_token_stride = heads * (nope + vd);
  p.kv_head_stride = nope + vd;
  p.k_rope = kr.get();
  p.k_rope_stride = rope;
  p.out = out.get();
  p.out_token_stride = heads * vd;
  p.out_head_stride = vd;
  p.tokens = tokens;
  p.q_start = q_start;
  p.kv_len = kv_len;
  p.heads = heads;
  p.nope_dim = nope;
  p.rope_dim = rope;
  p.v_dim = vd;
  p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(nope + rope));
  bench::Check(kernels::LaunchMlaPrefill(p, nullptr), "mla prefill");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchMlaPrefill(p, nullptr); }, 5, 11, 3);
  double visible = 0;  // Σ_t (q_start + t + 1)
  for (int64_t t = 0; t < tokens; ++t) visible += static_cast<double>(q_start + t + 1);
  const double flops = 2.0 * heads * (nope + rope + vd) * visible;
  std::printf(
      "tokens=%5ld q_start=%5ld kv_len=%5ld heads=%ld %9.1f us  %6.1f TFLOP/s (%.2f of BF16 "
      "%.0f)\n",
      static_cast<long>(tokens), static_cast<long>(q_start), static_cast<long>(kv_len),
      static_cast<long>(heads), us, flops / us / 1e6, flops / us / 1e6 / bench::kBf16Tflops,
      bench::kBf16Tflops);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  std::printf("# R1 naive-form prefill attention: nope 128, rope 64, v 128, causal\n");
  r1::Bench(4096, 0);
  r1::Bench(1024, 3072);
  r1::Bench(512, 0);
  return 0;
}
