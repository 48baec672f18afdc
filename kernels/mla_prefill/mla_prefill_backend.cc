// Choice between our MLA prefill kernel and FlashInfer's (see mla_prefill_backend.h). Pure and
// CPU-only.
#include "kernels/mla_prefill/mla_prefill_backend.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

namespace r1::kernels {
namespace {

// Median µs per shape from mla_prefill_bench ("table:" lines: {heads, tokens, q_start, ours,
// FlashInfer}), both kernels in the same run. Measured on an NVIDIA H100 80GB HBM3, 2026-12-07:
// FlashInfer's Hopper prefill is 2.6–3.0× faster.
constexpr auto kTimings = std::to_array<MlaPrefillTiming>({
    {128, 2048, 0, 967.3, 370.6},
    {128, 4096, 0, 3560.8, 1173.0},
    {128, 8192, 0, 13596.2, 4593.3},
    {128, 1024, 3072, 1569.5, 570.6},
});

double LogDistance(int64_t a, int64_t b) {
  return std::fabs(std::log2(static_cast<double>(std::max<int64_t>(a, 1))) -
                   std::log2(static_cast<double>(std::max<int64_t>(b, 1))));
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

absl::Status CheckMlaPrefillFlashInfer(const MlaPrefillParams& p) {
  if (auto st = ValidateMlaPrefill(p); !st.ok()) return st;
  if (!MlaPrefillFlashInferWidths(p.nope_dim, p.rope_dim, p.v_dim)) {
    return absl::InvalidArgumentError(
        "mla_prefill_flashinfer: only nope_dim + rope_dim == 192, v_dim == 128 and nope_dim a "
        "multiple of 8");
  }
  if (p.tokens == 0) return absl::OkStatus();  // nothing is read or written
  const bool rope = p.rope_dim > 0;
  if (!Aligned16(p.q) || !Aligned16(p.kv) || !Aligned16(p.out) || (rope && !Aligned16(p.k_rope))) {
    return absl::InvalidArgumentError("mla_prefill_flashinfer: pointers must be 16-byte aligned");
  }
  const int64_t strides[] = {p.q_token_stride,          p.q_head_stride,    p.kv_token_stride,
                             p.kv_head_stride,          p.out_token_stride, p.out_head_stride,
                             rope ? p.k_rope_stride : 8};
  for (int64_t s : strides) {
    if (s % 8 != 0) {
      return absl::InvalidArgumentError(
          "mla_prefill_flashinfer: strides must be multiples of 8 elements");
    }
    if (s >= (int64_t{1} << 39)) {
      return absl::InvalidArgumentError("mla_prefill_flashinfer: stride of 2^39 elements or more");
    }
  }
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  if (p.q_start + p.tokens > kI32Max) {
    return absl::InvalidArgumentError("mla_prefill_flashinfer: lengths must fit in int32");
  }
  if (p.heads > 65535) {  // FlashInfer's grid is (query tiles, heads)
    return absl::InvalidArgumentError("mla_prefill_flashinfer: more than 65535 heads");
  }
  return absl::OkStatus();
}

const char* MlaPrefillBackendName(MlaPrefillBackend b) {
  switch (b) {
    case MlaPrefillBackend::kOurs:
      return "ours";
    case MlaPrefillBackend::kFlashInfer:
      return "flashinfer";
  }
  return "?";
}

absl::Span<const MlaPrefillTiming> MlaPrefillTimings() {
  return absl::MakeConstSpan(kTimings.data(), kTimings.size());
}

MlaPrefillBackend ChooseMlaPrefillBackend(const MlaPrefillParams& p, bool flashinfer_available,
                                          absl::Span<const MlaPrefillTiming> timings) {
  if (!flashinfer_available || !CheckMlaPrefillFlashInfer(p).ok()) return MlaPrefillBackend::kOurs;
  const int64_t seen = p.q_start + p.tokens;
  const MlaPrefillTiming* best = nullptr;
  double best_d = 0;
  for (const MlaPrefillTiming& t : timings) {
    if (t.heads != p.heads) continue;
    const double d = LogDistance(p.tokens, t.tokens) + LogDistance(seen, t.q_start + t.tokens);
    if (best == nullptr || d < best_d) {
      best = &t;
      best_d = d;
    }
  }
  // Unmeasured, or measured only at chunks more than kMlaPrefillMaxTokenRatio times longer or
  // shorter (FlashInfer's time includes packing every cached key, which a short chunk over a long
  // context does not amortise): the in-tree kernel.
  if (best == nullptr || !(best->ours_us > 0) || !(best->flashinfer_us > 0) ||
      LogDistance(p.tokens, best->tokens) > std::log2(kMlaPrefillMaxTokenRatio)) {
    return MlaPrefillBackend::kOurs;
  }
  return best->flashinfer_us < best->ours_us * (1.0 - kMlaPrefillFlashInferMargin)
             ? MlaPrefillBackend::kFlashInfer
             : MlaPrefillBackend::kOurs;
}

}  // namespace r1::kernels
