// MLA absorbed decode over the paged BF16 latent cache, 128 heads (R1, DP attention). Prints
// effective TB/s (cache bytes read / time) against the HBM ceiling and TFLOP/s against the BF16
// ceiling (at 128 heads the kernel does 242 FLOP per cache byte, above the H200's ridge point,
// so it is compute-bound). usage: mla_decode_bench
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/mla_decode/mla_decode.h"
#include "kernels/mla_decode/mla_decode_cuda.h"

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

void Bench(int64_t batch, int64_t len) {
  const int64_t heads = 128, bt = (len + 63) / 64, pages = batch * bt;
  std::mt19937 rng(static_cast<unsigned>(batch * 7 + len));
  std::vector<int32_t> table(pages);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  DeviceBuffer<int32_t> dtable(table),
      dlens(std::vector<int32_t>(batch, static_cast<int32_t>(len)));
  DeviceBuffer<uint16_t> cache(pages * 64 * kernels::kMlaCacheDim);
  bench::FillTiled(cache.get(), cache.size(),
                   kernels::testing::RandomBf16((size_t{8} << 20) + 1000, rng));
  DeviceBuffer<uint16_t> q(
      kernels::testing::RandomBf16(batch * heads * kernels::kMlaCacheDim, rng, 0.3f));
  DeviceBuffer<float> out(batch * heads * kernels::kMlaLatentDim);
  const auto cfg = kernels::ChooseMlaDecodeConfig(batch, heads, len, 132);
  DeviceBuffer<uint8_t> work(std::max<size_t>(cfg.workspace_bytes, 16));
  kernels::MlaDecodeParams p;
  p.q_latent = q.get();
  p.q_rope = q.get() + kernels::kMlaLatentDim;
  p.q_batch_stride = heads * kernels::kMlaCacheDim;
  p.q_head_stride = kernels::kMlaCacheDim;
  p.kv_cache = cache.get();
  p.num_pages = pages;
  p.block_table = dtable.get();
  p.block_table_stride = bt;
  p.seq_lens = dlens.get();
  p.out = out.get();
  p.batch = batch;
  p.heads = heads;
  p.softmax_scale = 0.13523378f;
  p.max_seq_len = len;
  p.workspace = work.get();
  p.workspace_bytes = work.size();
  bench::Check(kernels::LaunchMlaDecode(p, nullptr), "mla decode");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchMlaDecode(p, nullptr); });
  const double bytes = static_cast<double>(batch) * len * kernels::kMlaCacheDim * 2;
  const double flops = 2.0 * batch * len * heads * (kernels::kMlaCacheDim + kernels::kMlaLatentDim);
  std::printf(
      "batch=%4ld ctx=%6ld splits=%2d %9.1f us  %5.2f TB/s (%.2f of HBM %.2f)  %6.1f TFLOP/s (%.2f "
      "of BF16 %.0f)\n",
      static_cast<long>(batch), static_cast<long>(len), cfg.splits, us, bytes / us / 1e6,
      bytes / us / 1e6 / bench::kHbmTBs, bench::kHbmTBs, flops / us / 1e6,
      flops / us / 1e6 / bench::kBf16Tflops, bench::kBf16Tflops);
}

}  // namespace
}  // namespace r1

int main() {
  r1::bench::PrintDevice();
  r1::bench::WarmUpGpu();
  std::printf("# target: batch 64, ctx 4096, 128 heads, BF16 cache >= 3.5 TB/s effective\n");
  r1::Bench(64, 4096);
  for (auto [b, l] : {std::pair<int64_t, int64_t>{1, 4096},
                      {8, 4096},
                      {32, 4096},
                      {128, 4096},
                      {64, 1024},
                      {16, 32768},
                      {1, 131072}}) {
    r1::Bench(b, l);
  }
  return 0;
}
