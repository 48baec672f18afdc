// Choice between our MLA decode kernel and FlashInfer's (see mla_decode.h), from a table of
// measured times. Pure and CPU-only: the table is data, the choice a function of the shape.
#include <algorithm>
#include <cmath>

#include "kernels/mla_decode/mla_decode.h"

namespace r1::kernels {
namespace {

// Median µs on one H200, 128 heads (R1 with DP attention), BF16 cache, shuffled pages:
// `mla_decode_bench` prints its results as rows of exactly this form. Not yet measured for
// FlashInfer (its side and ours must come from the same run), so every row is 0 and the choice
// is ours wherever ours can run; the rows list the shapes the bench times.
constexpr MlaDecodeTiming kTimings[] = {
    {1, 128, 1024, 0, 0},   {1, 128, 4096, 0, 0},   {1, 128, 16384, 0, 0},
    {64, 128, 1024, 0, 0},  {64, 128, 4096, 0, 0},  {64, 128, 16384, 0, 0},
    {128, 128, 1024, 0, 0}, {128, 128, 4096, 0, 0}, {128, 128, 16384, 0, 0},
    {256, 128, 1024, 0, 0}, {256, 128, 4096, 0, 0}, {256, 128, 16384, 0, 0},
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

absl::Span<const MlaDecodeTiming> MlaDecodeTimings() { return kTimings; }

MlaDecodeBackend ChooseMlaDecodeBackend(int64_t batch, int64_t heads, int64_t max_seq_len,
                                        bool flashinfer_available, bool bf16_out,
                                        absl::Span<const MlaDecodeTiming> timings) {
  const bool ours_ok = heads > 0 && heads % 64 == 0;
  const bool fi_ok = heads > 0 && flashinfer_available && bf16_out;
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
