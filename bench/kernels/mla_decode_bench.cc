// MLA absorbed decode over the paged BF16 latent cache, 128 heads (R1, DP attention). Prints
// effective TB/s (cache bytes read / time) against the HBM ceiling and TFLOP/s against the BF16
// ceiling (at 128 heads the kernel does 242 FLOP per cache byte, above the H200's ridge point,
// so it is compute-bound). usage: mla_decode_bench
//
// Part 1: our kernel alone (f32 output) on the shapes of earlier results. Part 2, side by side:
// ours and FlashInfer's Hopper MLA (when built: R1_HAVE_FLASHINFER) on the same inputs in this
// process, batch 1/64/128/256 × context 1K/4K/16K, both writing bf16, with the ratio, the
// difference between their outputs, FlashInfer's host plan time, and the rows to paste into
// kernels/mla_decode/mla_decode_backend.cc. Beside each shape's BF16 rows, an `ours-fp8` row: our
// kernel on the FP8 cache (mla_decode.h's 656-byte rows, quantised from the same BF16 cache by
// LaunchKvWriteFp8), TB/s over the FP8 bytes it reads, and the rel-L2 / max-abs of its output
// against ours on the BF16 cache (FlashInfer has no FP8-cache path here).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/kv_write/kv_write.h"
#include "kernels/kv_write/kv_write_cuda.h"
#include "kernels/mla_decode/mla_decode.h"
#include "kernels/mla_decode/mla_decode_cuda.h"
#ifdef R1_HAVE_FLASHINFER
#include "kernels/mla_decode/mla_decode_flashinfer.h"
#endif

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

// The inputs of one decode shape (128 heads, R1's dims): a shuffled block table, every sequence
// `len` long, a random bf16 cache and queries, and our kernel's workspace; the rng draws the
// table, then the cache, then the queries. Params() is the call without its output.
struct DecodeInputs {
  DecodeInputs(int64_t batch_, int64_t len_, unsigned seed)
      : batch(batch_), len(len_), bt((len_ + 63) / 64), pages(batch_ * bt) {
    std::mt19937 rng(seed);
    std::vector<int32_t> table(pages);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng);
    lens.assign(batch, static_cast<int32_t>(len));
    dtable = std::make_unique<DeviceBuffer<int32_t>>(table);
    dlens = std::make_unique<DeviceBuffer<int32_t>>(lens);
    cache = std::make_unique<DeviceBuffer<uint16_t>>(pages * 64 * kernels::kMlaCacheDim);
    bench::FillTiled(cache->get(), cache->size(),
                     kernels::testing::RandomBf16((size_t{8} << 20) + 1000, rng));
    q = std::make_unique<DeviceBuffer<uint16_t>>(
        kernels::testing::RandomBf16(batch * heads * kernels::kMlaCacheDim, rng, 0.3f));
    cfg = kernels::ChooseMlaDecodeConfig(batch, heads, len, 132);
    work = std::make_unique<DeviceBuffer<uint8_t>>(std::max<size_t>(cfg.workspace_bytes, 16));
  }
  kernels::MlaDecodeParams Params() const {
    kernels::MlaDecodeParams p;
    p.q_latent = q->get();
    p.q_rope = q->get() + kernels::kMlaLatentDim;
    p.q_batch_stride = heads * kernels::kMlaCacheDim;
    p.q_head_stride = kernels::kMlaCacheDim;
    p.kv_cache = cache->get();
    p.num_pages = pages;
    p.block_table = dtable->get();
    p.block_table_stride = bt;
    p.seq_lens = dlens->get();
    p.batch = batch;
    p.heads = heads;
    p.softmax_scale = 0.13523378f;
    p.max_seq_len = len;
    p.workspace = work->get();
    p.workspace_bytes = work->size();
    return p;
  }
  static constexpr int64_t heads = 128;
  const int64_t batch, len, bt, pages;
  std::vector<int32_t> lens;  // host copy (FlashInfer plans from it)
  std::unique_ptr<DeviceBuffer<int32_t>> dtable, dlens;
  std::unique_ptr<DeviceBuffer<uint16_t>> cache, q;
  std::unique_ptr<DeviceBuffer<uint8_t>> work;
  kernels::MlaDecodeConfig cfg;
};

void Bench(int64_t batch, int64_t len) {
  const DecodeInputs in(batch, len, static_cast<unsigned>(batch * 7 + len));
  const int64_t heads = DecodeInputs::heads;
  const auto& cfg = in.cfg;
  DeviceBuffer<float> out(batch * heads * kernels::kMlaLatentDim);
  kernels::MlaDecodeParams p = in.Params();
  p.out = out.get();
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

// Median µs per call with `fn` (which enqueues one call on the given stream) captured 10 times
// into a CUDA graph and the graph replayed: decode steps run as graphs, so this is the time
// without host launch cost (FlashInfer's run does host work per call: a shared-memory attribute
// and a cooperative launch). Returns -1 when capture or instantiation fails.
double TimeGraphUs(const std::function<void(cudaStream_t)>& fn) {
  constexpr int kCalls = 10, kReps = 15;
  cudaStream_t s;
  bench::Check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  cudaGraph_t g = nullptr;
  cudaGraphExec_t ge = nullptr;
  double us = -1;
  if (cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess) {
    for (int i = 0; i < kCalls; ++i) fn(s);
    if (cudaStreamEndCapture(s, &g) == cudaSuccess &&
        cudaGraphInstantiate(&ge, g, 0) == cudaSuccess) {
      cudaEvent_t a, b;
      bench::Check(cudaEventCreate(&a), "event");
      bench::Check(cudaEventCreate(&b), "event");
      for (int i = 0; i < 3; ++i) bench::Check(cudaGraphLaunch(ge, s), "graph warmup");
      std::vector<double> t;
      for (int r = 0; r < kReps; ++r) {
        bench::Check(cudaEventRecord(a, s), "record");
        bench::Check(cudaGraphLaunch(ge, s), "graph launch");
        bench::Check(cudaEventRecord(b, s), "record");
        bench::Check(cudaEventSynchronize(b), "sync");
        float ms = 0;
        bench::Check(cudaEventElapsedTime(&ms, a, b), "elapsed");
        t.push_back(1e3 * ms / kCalls);
      }
      std::sort(t.begin(), t.end());
      us = t[t.size() / 2];
      cudaEventDestroy(a);
      cudaEventDestroy(b);
    }
  }
  (void)cudaGetLastError();  // a failed capture leaves an error behind; reported as -1
  if (ge) cudaGraphExecDestroy(ge);
  if (g) cudaGraphDestroy(g);
  cudaStreamDestroy(s);
  return us;
}

// One shape side by side: identical cache, table, lengths and queries for both kernels.
struct SideBySide {
  int64_t batch = 0, len = 0;
  double ours_us = 0, fi_us = 0;              // stream-launched; fi_us 0: not run
  double ours_graph_us = 0, fi_graph_us = 0;  // graph-replayed; -1: capture failed
  double fp8_us = 0, fp8_graph_us = 0;        // ours on the FP8 cache
  double fp8_rel_l2 = 0;                      // FP8-cache output against the BF16-cache one
};

#ifdef R1_HAVE_FLASHINFER
using FlashInfer = kernels::FlashInferMlaDecode;
#else
struct FlashInfer {};  // not built: part 2 times ours alone
#endif

SideBySide Compare(int64_t batch, int64_t len, FlashInfer* fi) {
  const DecodeInputs in(batch, len, static_cast<unsigned>(batch * 13 + len));
  const int64_t heads = DecodeInputs::heads, bt = in.bt;
  const std::vector<int32_t>& lens = in.lens;
  const auto& cfg = in.cfg;
  const size_t out_n = batch * heads * kernels::kMlaLatentDim;
  DeviceBuffer<uint16_t> out_ours(out_n), out_fi(out_n);
  kernels::MlaDecodeParams p = in.Params();
  p.out_bf16 = out_ours.get();

  SideBySide r{batch, len};
  bench::Check(kernels::LaunchMlaDecode(p, nullptr), "mla decode");
  r.ours_us = bench::TimeUs([&] { (void)kernels::LaunchMlaDecode(p, nullptr); });
  r.ours_graph_us = TimeGraphUs([&](cudaStream_t s) { (void)kernels::LaunchMlaDecode(p, s); });
  const double bf16_bytes = static_cast<double>(batch) * len * kernels::kMlaCacheDim * 2;
  const double flops = 2.0 * batch * len * heads * (kernels::kMlaCacheDim + kernels::kMlaLatentDim);
  auto line = [&](const char* who, double us, const std::string& extra, double bytes) {
    std::printf(
        "batch=%4ld ctx=%6ld %-10s %9.1f us  %5.2f TB/s (%.2f of HBM)  %6.1f TFLOP/s (%.2f "
        "of BF16)%s\n",
        static_cast<long>(batch), static_cast<long>(len), who, us, bytes / us / 1e6,
        bytes / us / 1e6 / bench::kHbmTBs, flops / us / 1e6, flops / us / 1e6 / bench::kBf16Tflops,
        extra.c_str());
  };
  char graph[48];
  std::snprintf(graph, sizeof(graph), "  graph %.1f us", r.ours_graph_us);
  line("ours", r.ours_us, graph + (" splits=" + std::to_string(cfg.splits)), bf16_bytes);

  // Ours on the FP8 cache: every row of the BF16 cache quantised into the same slot.
  {
    const int64_t rows = in.pages * 64;
    std::vector<int32_t> slots(rows);
    std::iota(slots.begin(), slots.end(), 0);
    DeviceBuffer<int32_t> dslots(slots);
    DeviceBuffer<uint8_t> fp8_cache(rows * kernels::kMlaFp8RowBytes);
    const kernels::KvWriteFp8Params w{
        in.cache->get(), kernels::kMlaCacheDim, dslots.get(), fp8_cache.get(), in.pages, rows};
    bench::Check(kernels::LaunchKvWriteFp8(w, nullptr), "kv write fp8");
    DeviceBuffer<uint16_t> out_fp8(out_n);
    kernels::MlaDecodeParams p8 = p;
    p8.kv_dtype = kernels::MlaKvDtype::kFp8;
    p8.kv_cache = nullptr;
    p8.kv_cache_fp8 = fp8_cache.get();
    p8.out_bf16 = out_fp8.get();
    bench::Check(kernels::LaunchMlaDecode(p8, nullptr), "mla decode fp8");
    r.fp8_us = bench::TimeUs([&] { (void)kernels::LaunchMlaDecode(p8, nullptr); });
    r.fp8_graph_us = TimeGraphUs([&](cudaStream_t s) { (void)kernels::LaunchMlaDecode(p8, s); });
    const auto a = kernels::testing::Bf16ToFloatVec(out_ours.Download());
    const auto b = kernels::testing::Bf16ToFloatVec(out_fp8.Download());
    const auto e = kernels::testing::Compare(b, a);
    r.fp8_rel_l2 = e.rel_l2;
    char extra[200];
    std::snprintf(extra, sizeof(extra),
                  "  graph %.1f us  bf16/fp8=%.2f  vs bf16 cache: rel_l2=%.2e max_abs=%.2e "
                  "(max|ref| %.2f)%s",
                  r.fp8_graph_us, r.ours_us / r.fp8_us, e.rel_l2, e.max_abs, e.max_ref,
                  e.non_finite ? " NON-FINITE" : "");
    line("ours-fp8", r.fp8_us, extra,
         static_cast<double>(batch) * len * static_cast<double>(kernels::kMlaFp8RowBytes));
  }
#ifdef R1_HAVE_FLASHINFER
  if (fi != nullptr) {
    // Planning is host work once per decode step (lengths change every step): timed apart, with
    // the upload it enqueues.
    const auto t0 = std::chrono::steady_clock::now();
    bench::Check(fi->Plan(lens.data(), batch, heads, bt, nullptr), "flashinfer plan");
    bench::Check(cudaStreamSynchronize(nullptr), "plan upload");
    const double plan_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    kernels::MlaDecodeParams pf = p;
    pf.out_bf16 = out_fi.get();
    bench::Check(fi->Run(pf, nullptr), "flashinfer mla decode");
    r.fi_us = bench::TimeUs([&] { (void)fi->Run(pf, nullptr); });
    r.fi_graph_us = TimeGraphUs([&](cudaStream_t s) { (void)fi->Run(pf, s); });
    // Both outputs from the same inputs: their difference (rel. L2, against ours) is a sanity
    // check of the comparison, not a correctness test (kernels_*_gpu_test are those).
    const auto a = kernels::testing::Bf16ToFloatVec(out_ours.Download());
    const auto b = kernels::testing::Bf16ToFloatVec(out_fi.Download());
    const auto e = kernels::testing::Compare(b, a);
    char graph_ratio[32] = "n/a";  // a graph that did not capture has no ratio
    if (r.ours_graph_us > 0 && r.fi_graph_us > 0) {
      std::snprintf(graph_ratio, sizeof(graph_ratio), "%.2f", r.ours_graph_us / r.fi_graph_us);
    }
    char extra[200];
    std::snprintf(extra, sizeof(extra),
                  "  graph %.1f us plan=%.0f us  ours/flashinfer=%.2f (graph %s)  diff "
                  "rel_l2=%.1e%s",
                  r.fi_graph_us, plan_us, r.ours_us / r.fi_us, graph_ratio, e.rel_l2,
                  e.non_finite ? " NON-FINITE" : "");
    line("flashinfer", r.fi_us, extra, bf16_bytes);
  }
#else
  (void)fi;
  (void)out_fi;
#endif
  return r;
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

  std::printf("\n# side by side, bf16 output; ours/flashinfer > 1: FlashInfer is faster\n");
  std::unique_ptr<r1::FlashInfer> fi;
#ifdef R1_HAVE_FLASHINFER
  if (auto created = r1::kernels::FlashInferMlaDecode::Create(); created.ok()) {
    fi = std::move(*created);
    std::printf("# FlashInfer 0.7.4 Hopper MLA, workspaces %.1f MB\n", fi->device_bytes() / 1e6);
  } else {
    std::printf("# FlashInfer unavailable: %s\n", std::string(created.status().message()).c_str());
  }
#else
  std::printf("# FlashInfer not built (see cmake/R1FlashInfer.cmake): ours only\n");
#endif
  std::vector<r1::SideBySide> rows;
  for (int64_t b : {1, 64, 128, 256}) {
    for (int64_t l : {1024, 4096, 16384}) rows.push_back(r1::Compare(b, l, fi.get()));
  }
  std::printf("\n# ours, BF16 vs FP8 cache (graph-replayed µs; rel_l2 of the FP8-cache output)\n");
  for (const auto& r : rows) {
    std::printf("batch=%4ld ctx=%6ld  bf16 %9.1f  fp8 %9.1f  bf16/fp8=%.2f  rel_l2=%.2e\n",
                static_cast<long>(r.batch), static_cast<long>(r.len), r.ours_graph_us,
                r.fp8_graph_us, r.fp8_graph_us > 0 ? r.ours_graph_us / r.fp8_graph_us : 0.0,
                r.fp8_rel_l2);
  }
  if (fi != nullptr) {
    // Graph-replayed times where both captured (decode steps run as graphs), else per launch.
    std::printf(
        "\n# rows for kMlaDecodeTimings (kernels/mla_decode/mla_decode_backend.cc), "
        "graph-replayed µs where both captured\n");
    for (const auto& r : rows) {
      const bool graphs = r.ours_graph_us > 0 && r.fi_graph_us > 0;
      std::printf("    {%ld, 128, %ld, %.1f, %.1f},%s\n", static_cast<long>(r.batch),
                  static_cast<long>(r.len), graphs ? r.ours_graph_us : r.ours_us,
                  graphs ? r.fi_graph_us : r.fi_us, graphs ? "" : "  // per launch");
    }
  }
  return 0;
}
