// Choice between our MLA prefill kernel (LaunchMlaPrefill, mla_prefill_cuda.h) and FlashInfer's
// Hopper prefill (FlashInferMlaPrefill, mla_prefill_flashinfer.h), from a table of measured
// times, and the layout check that says which MlaPrefillParams FlashInfer's kernel can express.
// Pure and CPU-only: the table is data (mla_prefill_backend.cc), the choice a function of the
// params (pointers are only inspected for alignment, never dereferenced); nothing here needs CUDA
// or FlashInfer.
#ifndef R1_KERNELS_MLA_PREFILL_MLA_PREFILL_BACKEND_H_
#define R1_KERNELS_MLA_PREFILL_MLA_PREFILL_BACKEND_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "kernels/mla_prefill/mla_prefill.h"

namespace r1::kernels {

// The one shape FlashInfer 0.7.4's sm90 prefill instantiates with unequal head dims (DeepSeek's
// naive MLA prefill): query/key width 192, value width 128.
inline constexpr int64_t kMlaPrefillFlashInferQkDim = 192;
inline constexpr int64_t kMlaPrefillFlashInferVDim = 128;

// Whether a model's MLA widths are that instantiation's (nope + rope = 192, v = 128, nope a
// multiple of 8): the width conditions of CheckMlaPrefillFlashInfer, for deciding before any
// params exist (CudaModel).
inline bool MlaPrefillFlashInferWidths(int64_t nope_dim, int64_t rope_dim, int64_t v_dim) {
  return nope_dim + rope_dim == kMlaPrefillFlashInferQkDim && v_dim == kMlaPrefillFlashInferVDim &&
         nope_dim % 8 == 0;
}

// OK when FlashInferMlaPrefill can run `p` (apart from its buffer capacity, which is per object),
// else InvalidArgument naming the first condition that fails. Beyond ValidateMlaPrefill:
//   - nope_dim + rope_dim == 192 and v_dim == 128 (the only instantiation), nope_dim % 8 == 0
//     (so rope_dim % 8 == 0: the key packing moves 16-byte vectors);
//   - q, kv, out and (rope_dim > 0) k_rope 16-byte aligned; q_token_stride, q_head_stride,
//     kv_token_stride, kv_head_stride, out_token_stride, out_head_stride and (rope_dim > 0)
//     k_rope_stride multiples of 8 elements (TMA loads need 16-byte-aligned bases and strides;
//     the epilogue stores 16-byte vectors);
//   - q_start + tokens below 2^31 (FlashInfer's lengths are int), heads ≤ 65535 (its grid's y
//     dimension), every stride below 2^39 elements (TMA's 2^40-byte stride limit).
// Always expressible, hence not checked: head-major or padded outputs (any strides meeting the
// above), and causal alignment for every q_start (FlashInfer aligns the last query row with the
// last key; it is given the q_start + tokens visible positions, never kv_len).
absl::Status CheckMlaPrefillFlashInfer(const MlaPrefillParams& p);

enum class MlaPrefillBackend {
  kOurs,        // LaunchMlaPrefill: every layout ValidateMlaPrefill accepts
  kFlashInfer,  // FlashInferMlaPrefill::Run
};
const char* MlaPrefillBackendName(MlaPrefillBackend b);

// One measured shape: `tokens` query tokens after `q_start` cached positions, R1 widths
// (192/128), median µs of each implementation as mla_prefill_bench prints them (its "table:"
// lines have exactly this form; FlashInfer's time includes its key packing); 0 where not
// measured.
struct MlaPrefillTiming {
  int64_t heads = 0;
  int64_t tokens = 0;
  int64_t q_start = 0;
  double ours_us = 0;
  double flashinfer_us = 0;
};
// The measured table (mla_prefill_backend.cc). Measured on a GPU (see the .cc).
absl::Span<const MlaPrefillTiming> MlaPrefillTimings();

// Backend choice (pure). Ours runs every valid params; FlashInfer only with
// `flashinfer_available` (built, and an object created on this device whose capacity covers
// p) and CheckMlaPrefillFlashInfer(p) OK. When both can, the row of `timings` with the same
// head count nearest to (tokens, q_start + tokens) in log scale (ties: the first row) decides:
// FlashInfer only when it measured faster than ours by more than kMlaPrefillFlashInferMargin;
// ours when that row, or every row for these heads, is unmeasured, or when that row's chunk is
// more than kMlaPrefillMaxTokenRatio times longer or shorter. Invalid params: ours (whose
// launch reports the error).
inline constexpr double kMlaPrefillFlashInferMargin = 0.05;
// A row stands for chunks within this factor of its token count; beyond, the choice is ours.
inline constexpr double kMlaPrefillMaxTokenRatio = 4.0;
MlaPrefillBackend ChooseMlaPrefillBackend(
    const MlaPrefillParams& p, bool flashinfer_available,
    absl::Span<const MlaPrefillTiming> timings = MlaPrefillTimings());

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_PREFILL_MLA_PREFILL_BACKEND_H_
