// Choice between our MLA decode kernel and FlashInfer's (see mla_decode.h), from a table of
// measured times. Pure and CPU-only: the table is data, the choice a function of the shape.
#include <algorithm>
#include <cmath>

#include "kernels/mla_decode/mla_decode.h"

namespace r1::kernels {
namespace {

// Graph-replayed µs, 128 heads (R1 with DP attention), BF16 cache, shuffled pages, both kernels
// in the same run of `mla_decode_bench` (which prints rows of exactly this form): H100 80GB HBM3,
// 2026-12-07 (bench/results/mla-decode-flashinfer-2026-12-07.md). FlashInfer 0.7.4 is 1.19–1.84×
// faster at every measured shape; its host plan step (60–180 µs) is not in these times.
constexpr MlaDecodeTiming kTimings[] = {
    {1, 128, 1024, 15.4, 13.0},        {1, 128, 4096, 33.4, 18.1},
    {1, 128, 16384, 41.9, 30.5},       {64, 128, 1024, 58.7, 43.2},
    {64, 128, 4096, 185.0, 142.5},     {64, 128, 16384, 709.8, 594.3},
    {128, 128, 1024, 112.9, 82.2},     {128, 128, 4096, 378.7, 275.3},
    {128, 128, 16384, 1438.5, 1097.2}, {256, 128, 1024, 214.3, 160.6},
    {256, 128, 4096, 752.5, 575.0},    {256, 128, 16384, 2909.2, 2156.0},
};

double LogDistance(int64_t a, int64_t b) {
  return std::fabs(std::log2(static_cast<double>(std::max<int64_t>(a, 1))) -
                   std::log2(static_cast<double>(std::max<int64_t>(b, 1))));
}

}  // namespace

const char* MlaDecodeBackendName(MlaDecodeBackend b) {
  switch (b) {
    case MlaDecodeBackend::kOurs:
      return "ours";
    case MlaDecodeBackend::kFlashInfer:
      return "flashinfer";
    case MlaDecodeBackend::kNone:
      return "none";
  }
  return "?";
}

const char* MlaKvDtypeName(MlaKvDtype d) {
  switch (d) {
    case MlaKvDtype::kBf16:
      return "bf16";
    case MlaKvDtype::kFp8:
      return "fp8";
  }
  return "?";
}

absl::Span<const MlaDecodeTiming> MlaDecodeTimings() { return kTimings; }

MlaDecodeBackend ChooseMlaDecodeBackend(int64_t batch, int64_t heads, int64_t max_seq_len,
                                        bool flashinfer_available, bool bf16_out,
                                        MlaKvDtype kv_dtype,
                                        absl::Span<const MlaDecodeTiming> timings) {
  const bool ours_ok = heads > 0 && heads % 64 == 0;
  // FlashInfer's MLA path is wired for the BF16 cache only (mla_decode_flashinfer.h).
  const bool fi_ok = heads > 0 && flashinfer_available && bf16_out && kv_dtype == MlaKvDtype::kBf16;
  if (!ours_ok) return fi_ok ? MlaDecodeBackend::kFlashInfer : MlaDecodeBackend::kNone;
  if (!fi_ok) return MlaDecodeBackend::kOurs;
  // Nearest measured shape with the same head count (first one on ties: rows are data, so the
  // order is the tie-break).
  const MlaDecodeTiming* best = nullptr;
  double best_d = 0;
  for (const MlaDecodeTiming& t : timings) {
    if (t.heads != heads) continue;
    const double d = LogDistance(batch, t.batch) + LogDistance(max_seq_len, t.context);
    if (best == nullptr || d < best_d) {
      best = &t;
      best_d = d;
    }
  }
  if (best == nullptr || !(best->ours_us > 0) || !(best->flashinfer_us > 0)) {
    return MlaDecodeBackend::kOurs;  // unmeasured: the in-tree kernel (no host plan step)
  }
  return best->flashinfer_us < best->ours_us * (1.0 - kMlaDecodeFlashInferMargin)
             ? MlaDecodeBackend::kFlashInfer
             : MlaDecodeBackend::kOurs;
}

}  // namespace r1::kernels
