// Naive-form MLA prefill attention at R1's widths (128 heads, nope 128, rope 64, v 128). Prints
// time, TFLOP/s of the causal work (2·heads·(nope + rope + v) per visible (token, position) pair)
// and the ratio to the BF16 GEMM ceiling. usage: mla_prefill_bench
//
// Part 1: our kernel alone on the shapes of earlier results (a full 4096-token prefill, a
// 1024-token chunk after 3072 cached positions, 512 tokens). Part 2, side by side: ours and
// FlashInfer's Hopper prefill (when built: R1_HAVE_FLASHINFER) on the same inputs in this process
// at 2K/4K/8K tokens from position 0 and the 1024-after-3072 chunk, with the ratio, the
// difference between their outputs and the rows to paste into
// kernels/mla_prefill/mla_prefill_backend.cc. FlashInfer's time includes its key packing
// (mla_prefill_flashinfer.h), which a caller of FlashInferMlaPrefill always pays.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/mla_prefill/mla_prefill.h"
#include "kernels/mla_prefill/mla_prefill_cuda.h"
#ifdef R1_HAVE_FLASHINFER
#include "kernels/mla_prefill/mla_prefill_flashinfer.h"
#endif

namespace r1 {
namespace {

using kernels::testing::DeviceBuffer;

constexpr int64_t kHeads = 128, kNope = 128, kRope = 64, kV = 128;

// The inputs of one shape in R1's layout ([tokens][heads][192] query, [kv_len][heads][256]
// kv_b_proj output, [kv_len][64] roped keys, [tokens][heads][128] output). Params() is the call
// without its output.
struct Inputs {
  Inputs(int64_t tokens_, int64_t q_start_)
      : tokens(tokens_),
        q_start(q_start_),
        kv_len(q_start_ + tokens_),
        q(tokens_ * kHeads * (kNope + kRope)),
        kv(kv_len * kHeads * (kNope + kV)),
        kr(kv_len * kRope) {
    std::mt19937 rng(static_cast<unsigned>(tokens + q_start));
    const auto pattern = kernels::testing::RandomBf16((size_t{4} << 20) + 1000, rng, 0.5f);
    bench::FillTiled(q.get(), q.size(), pattern);
    bench::FillTiled(kv.get(), kv.size(), pattern);
    bench::FillTiled(kr.get(), kr.size(), pattern);
  }
  kernels::MlaPrefillParams Params() const {
    kernels::MlaPrefillParams p;
    p.q = q.get();
    p.q_token_stride = kHeads * (kNope + kRope);
    p.q_head_stride = kNope + kRope;
    p.kv = kv.get();
    p.kv_token_stride = kHeads * (kNope + kV);
    p.kv_head_stride = kNope + kV;
    p.k_rope = kr.get();
    p.k_rope_stride = kRope;
    p.out_token_stride = kHeads * kV;
    p.out_head_stride = kV;
    p.tokens = tokens;
    p.q_start = q_start;
    p.kv_len = kv_len;
    p.heads = kHeads;
    p.nope_dim = kNope;
    p.rope_dim = kRope;
    p.v_dim = kV;
    p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(kNope + kRope));
    return p;
  }
  // Causal FLOPs: 2·heads·(nope + rope + v) per visible pair, Σ_t (q_start + t + 1) pairs.
  double Flops() const {
    double visible = 0;
    for (int64_t t = 0; t < tokens; ++t) visible += static_cast<double>(q_start + t + 1);
    return 2.0 * kHeads * (kNope + kRope + kV) * visible;
  }
  int64_t tokens, q_start, kv_len;
  DeviceBuffer<uint16_t> q, kv, kr;
};

double Tflops(double flops, double us) { return flops / us / 1e6; }

void Bench(int64_t tokens, int64_t q_start) {
  const Inputs in(tokens, q_start);
  DeviceBuffer<uint16_t> out(tokens * kHeads * kV);
  kernels::MlaPrefillParams p = in.Params();
  p.out = out.get();
  bench::Check(kernels::LaunchMlaPrefill(p, nullptr), "mla prefill");
  const double us = bench::TimeUs([&] { (void)kernels::LaunchMlaPrefill(p, nullptr); }, 5, 11, 3);
  const double tf = Tflops(in.Flops(), us);
  std::printf(
      "tokens=%5ld q_start=%5ld kv_len=%5ld heads=%ld %9.1f us  %6.1f TFLOP/s (%.2f of BF16 "
      "%.0f)\n",
      static_cast<long>(tokens), static_cast<long>(q_start), static_cast<long>(in.kv_len),
      static_cast<long>(kHeads), us, tf, tf / bench::kBf16Tflops, bench::kBf16Tflops);
}

#ifdef R1_HAVE_FLASHINFER
using FlashInfer = kernels::FlashInferMlaPrefill;
#else
struct FlashInfer {};  // not built: part 2 times ours alone
#endif

struct Row {
  int64_t tokens = 0, q_start = 0;
  double ours_us = 0, fi_us = 0;
};

Row Compare(int64_t tokens, int64_t q_start, FlashInfer* fi) {
  const Inputs in(tokens, q_start);
  const size_t out_n = tokens * kHeads * kV;
  DeviceBuffer<uint16_t> out_ours(out_n), out_fi(out_n);
  kernels::MlaPrefillParams p = in.Params();
  p.out = out_ours.get();
  Row r{tokens, q_start};
  const double flops = in.Flops();
  auto line = [&](const char* who, double us, const char* extra) {
    const double tf = Tflops(flops, us);
    std::printf("tokens=%5ld q_start=%5ld %-10s %9.1f us  %6.1f TFLOP/s (%.2f of BF16)%s\n",
                static_cast<long>(tokens), static_cast<long>(q_start), who, us, tf,
                tf / bench::kBf16Tflops, extra);
  };
  bench::Check(kernels::LaunchMlaPrefill(p, nullptr), "mla prefill");
  r.ours_us = bench::TimeUs([&] { (void)kernels::LaunchMlaPrefill(p, nullptr); }, 5, 11, 3);
  line("ours", r.ours_us, "");
#ifdef R1_HAVE_FLASHINFER
  if (fi != nullptr) {
    kernels::MlaPrefillParams pf = p;
    pf.out = out_fi.get();
    bench::Check(fi->Run(pf, nullptr), "flashinfer prefill");
    r.fi_us = bench::TimeUs([&] { (void)fi->Run(pf, nullptr); }, 5, 11, 3);
    // Both outputs from the same inputs: their difference (rel. L2, against ours) is a sanity
    // check of the comparison, not a correctness test (kernels_*_gpu_test are those).
    const auto a = kernels::testing::Bf16ToFloatVec(out_ours.Download());
    const auto b = kernels::testing::Bf16ToFloatVec(out_fi.Download());
    const auto e = kernels::testing::Compare(b, a);
    char extra[160];
    std::snprintf(extra, sizeof(extra), "  ours/flashinfer=%.2f  diff rel_l2=%.1e%s",
                  r.ours_us / r.fi_us, e.rel_l2, e.non_finite ? " NON-FINITE" : "");
    line("flashinfer", r.fi_us, extra);
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
  std::printf("# R1 naive-form prefill attention: nope 128, rope 64, v 128, causal\n");
  r1::Bench(4096, 0);
  r1::Bench(1024, 3072);
  r1::Bench(512, 0);

  std::printf(
      "\n# side by side; ours/flashinfer > 1: FlashInfer is faster (its time includes "
      "the key packing)\n");
  const std::pair<int64_t, int64_t> shapes[] = {{2048, 0}, {4096, 0}, {8192, 0}, {1024, 3072}};
  std::unique_ptr<r1::FlashInfer> fi;
#ifdef R1_HAVE_FLASHINFER
  int64_t max_rows = 0;
  for (auto [t, s] : shapes) max_rows = std::max(max_rows, (t + s) * r1::kHeads);
  if (auto created = r1::kernels::FlashInferMlaPrefill::Create(max_rows); created.ok()) {
    fi = std::move(*created);
    std::printf("# FlashInfer 0.7.4 Hopper prefill (192/128, causal), packed keys %.0f MB\n",
                fi->device_bytes() / 1e6);
  } else {
    std::printf("# FlashInfer unavailable: %s\n", std::string(created.status().message()).c_str());
  }
#else
  std::printf("# FlashInfer not built (see cmake/R1FlashInfer.cmake): ours only\n");
#endif
  std::vector<r1::Row> rows;
  for (auto [t, s] : shapes) rows.push_back(r1::Compare(t, s, fi.get()));
  if (fi != nullptr) {
    std::printf("\n# rows for kTimings (kernels/mla_prefill/mla_prefill_backend.cc), µs\n");
    for (const auto& r : rows) {
      std::printf("table: {128, %ld, %ld, %.1f, %.1f},\n", static_cast<long>(r.tokens),
                  static_cast<long>(r.q_start), r.ours_us, r.fi_us);
    }
  }
  return 0;
}
