// MLA decode attention in the absorbed form (spec §6.6) over the paged latent KV cache (§6.7).
//
// For each batch entry b (one query token) and head h, with T = seq_lens[b] cached tokens:
//   score(s) = softmax_scale · ( q_latent[b][h] · c_kv(s) + q_rope[b][h] · k_rope(s) ),  s < T
//   out[b][h] = Σ_s softmax(score)(s) · c_kv(s)                          (512 values, fp32 math)
// where cache row s = [c_kv(s) (512) ; k_rope(s) (64)] lives in page block_table[b][s / 64] at
// row s % 64. The caller applies W_UV and o_proj afterwards. A sequence with T = 0 yields zeros.
//
// Causality is by construction: entry b sees exactly its first T tokens. Several entries may
// share a block table row with different lengths — that is how MTP verification (several query
// tokens of one sequence) runs.
//
// CUDA kernel: 64 heads per CTA, two warpgroups; QK^T and PV on wgmma (bf16 in, fp32 out),
// online softmax in fp32, P rounded to bf16 for the PV product; the sequence is split across
// CTAs (flash-decoding) when batch × heads/64 alone cannot fill the GPU, with a log-sum-exp
// combine. Requires num_heads % 64 == 0 and the R1 dims (512 + 64, page 64).
//
// FlashInfer's Hopper MLA runs on the same params where it is built (mla_decode_flashinfer.h);
// ChooseMlaDecodeBackend picks between the two per shape.
#ifndef R1_KERNELS_MLA_DECODE_MLA_DECODE_H_
#define R1_KERNELS_MLA_DECODE_MLA_DECODE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace r1::kernels {

inline constexpr int64_t kMlaLatentDim = 512;  // kv_lora_rank
inline constexpr int64_t kMlaRopeDim = 64;     // qk_rope_head_dim
inline constexpr int64_t kMlaCacheDim = kMlaLatentDim + kMlaRopeDim;
inline constexpr int64_t kMlaPageTokens = 64;  // tokens per KV-cache page

struct MlaDecodeParams {
  // bf16; the 512 values of (b, h) start at q_latent + b·q_batch_stride + h·q_head_stride. Not
  // null.
  const uint16_t* q_latent = nullptr;
  // bf16; the 64 roped values of (b, h) start at q_rope + b·q_batch_stride + h·q_head_stride
  // (so a concatenated [B][H][576] query is q_rope = q_latent + 512). Not null.
  const uint16_t* q_rope = nullptr;
  int64_t q_batch_stride = 0;            // elements
  int64_t q_head_stride = 0;             // elements
  const uint16_t* kv_cache = nullptr;    // [num_pages][64][576] bf16; not null
  int64_t num_pages = 0;                 // > 0
  const int32_t* block_table = nullptr;  // [batch][block_table_stride] page ids; not null
  int64_t block_table_stride = 0;        // > 0 (max pages per sequence)
  const int32_t* seq_lens = nullptr;     // [batch], 0 ≤ len ≤ block_table_stride·64; not null
  float* out = nullptr;                  // [batch][heads][512] f32, or nullptr when out_bf16 is set
  uint16_t* out_bf16 = nullptr;          // [batch][heads][512] bf16, or nullptr when out is set
  int64_t batch = 0;                     // ≥ 0
  int64_t heads = 0;                     // > 0
  float softmax_scale = 0;               // σ (spec §6.2: 0.13523378 for R1)
  int64_t max_seq_len = 0;               // host-side upper bound of seq_lens (split choice); ≥ 0
  void* workspace = nullptr;  // device scratch for split partials; nullable (then no split)
  size_t workspace_bytes = 0;
};

absl::Status ValidateMlaDecode(const MlaDecodeParams& p);

// CPU reference (fp32); pointers are host memory. Page ids and lengths are bounds-checked.
absl::Status MlaDecodeReference(const MlaDecodeParams& p);

// Split-K choice (pure): the number of sequence splits per (batch entry, 64-head group) that
// minimises waves × per-CTA work on `sm_count` SMs (one CTA per SM), given the longest sequence.
struct MlaDecodeConfig {
  int splits = 1;
  size_t workspace_bytes = 0;  // partial outputs + log-sum-exps when splits > 1
};
MlaDecodeConfig ChooseMlaDecodeConfig(int64_t batch, int64_t heads, int64_t max_seq_len,
                                      int sm_count);
// Workspace for a given split count.
size_t MlaDecodeWorkspaceBytes(int64_t batch, int64_t heads, int splits);

// Which implementation runs a decode step: ours (LaunchMlaDecode), FlashInfer's Hopper MLA
// (FlashInferMlaDecode in mla_decode_flashinfer.h, built only with FlashInfer), or neither
// (kNone: e.g. heads % 64 != 0 without FlashInfer; mla_attend is the general fallback).
enum class MlaDecodeBackend { kOurs, kFlashInfer, kNone };
const char* MlaDecodeBackendName(MlaDecodeBackend b);

// One measured shape (all entries of length `context`): median µs of each implementation, as
// mla_decode_bench prints them; 0 where not measured.
struct MlaDecodeTiming {
  int64_t batch = 0;
  int64_t heads = 0;
  int64_t context = 0;
  double ours_us = 0;
  double flashinfer_us = 0;
};
// The measured table (mla_decode_backend.cc; H100, where it was measured).
absl::Span<const MlaDecodeTiming> MlaDecodeTimings();

// Backend choice (pure). First what can run at all: ours needs heads % 64 == 0; FlashInfer needs
// `flashinfer_available` (built, and an object created on this device) and bf16 output. When both
// can, the row of `timings` with the same head count nearest to (batch, max_seq_len) in log scale
// decides: FlashInfer only when it measured faster than ours by more than
// kMlaDecodeFlashInferMargin; ours when that row (or any row for these heads) is unmeasured.
inline constexpr double kMlaDecodeFlashInferMargin = 0.05;
MlaDecodeBackend ChooseMlaDecodeBackend(
    int64_t batch, int64_t heads, int64_t max_seq_len, bool flashinfer_available, bool bf16_out,
    absl::Span<const MlaDecodeTiming> timings = MlaDecodeTimings());

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_DECODE_MLA_DECODE_H_
