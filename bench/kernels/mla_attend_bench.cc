// The general absorbed MLA attention (the correctness path for non-R1 sizes) on R1's dims, next
// to what mla_decode does with the same problem: batch 64 × 4K context × 128 heads, BF16 cache
// with shuffled pages; effective bytes = the cache rows read once per (entry, 64-head group).
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/mla_attend/mla_attend.h"
#include "kernels/mla_attend/mla_attend_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void Bench(int64_t batch, int64_t ctx, int64_t heads, int64_t latent, int64_t rope) {
  std::mt19937 rng(9);
  const int64_t row = latent + rope, per_seq = (ctx + 63) / 64, pages = batch * per_seq;
  DeviceBuffer<uint16_t> q(batch * heads * row), cache(pages * 64 * row),
      out(batch * heads * latent);
  bench::FillTiled(q.get(), q.size(), kernels::testing::RandomBf16(1 << 16, rng));
  bench::FillTiled(cache.get(), cache.size(), kernels::testing::RandomBf16(1 << 16, rng));
  std::vector<int32_t> table(pages);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  DeviceBuffer<int32_t> dtable(table), lens(std::vector<int32_t>(batch, static_cast<int32_t>(ctx)));
  kernels::MlaAttendParams p;
  p.q_latent = q.get();
  p.q_rope = q.get() + latent;
  p.q_batch_stride = heads * row;
  p.q_head_stride = row;
  p.kv_cache = cache.get();
  p.num_pages = pages;
  p.block_table = dtable.get();
  p.block_table_stride = per_seq;
  p.seq_lens = lens.get();
  p.out = out.get();
  p.out_batch_stride = heads * latent;
  p.out_head_stride = latent;
  p.batch = batch;
  p.heads = heads;
  p.latent_dim = latent;
  p.rope_dim = rope;
  p.softmax_scale = 0.1352f;
  bench::Check(kernels::LaunchMlaAttend(p, nullptr), "mla_attend");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchMlaAttend(p, nullptr); }, 3, 7, 1);
  const double bytes = batch * ctx * row * 2.0 * ((heads + 63) / 64);
  const double flops = 2.0 * batch * heads * ctx * (row + latent);
  std::printf(
      "mla_attend batch=%ld ctx=%ld heads=%ld dims=%ld+%ld %10.1f us %6.3f TB/s (%.2f of "
      "HBM) %7.1f TFLOP/s (%.3f of BF16)\n",
      static_cast<long>(batch), static_cast<long>(ctx), static_cast<long>(heads),
      static_cast<long>(latent), static_cast<long>(rope), us, bytes / us / 1e6,
      bytes / us / 1e6 / bench::kHbmTBs, flops / us / 1e6, flops / us / 1e6 / bench::kBf16Tflops);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  r1::Bench(64, 4096, 128, 512, 64);  // the mla_decode target problem
  r1::Bench(64, 4096, 8, 128, 32);    // r1-tiny's attention widths
  return 0;
}
