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
// FP8 cache (kv_dtype = kFp8): the same pages hold 656-byte rows instead of 576 bf16 values, the
// layout of DeepSeek's FlashMLA FP8 MLA cache (see kMlaFp8RowBytes below), half the bytes a token
// moves. Every row is read as DequantizeMlaFp8Row defines it: c_kv = bf16(e4m3 · scale) per
// value, k_rope as stored; then the math above. kv_write.h's KvWriteFp8 writes such rows. The
// CUDA kernel dequantises each page in shared memory and runs the same bf16 wgmma path.
//
// FlashInfer's Hopper MLA runs on the same params where it is built (mla_decode_flashinfer.h),
// BF16 cache only; ChooseMlaDecodeBackend picks between the two per shape.
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

// FP8 latent cache row: the layout of DeepSeek's FlashMLA FP8 MLA KV cache (656 bytes per token
// instead of 1152):
//   bytes [0, 512)    c_kv as e4m3fn, 4 groups of 128 values
//   bytes [512, 528)  the 4 groups' dequantisation scales, f32 (value ≈ e4m3 · scale)
//   bytes [528, 656)  k_rope, the 64 bf16 values as given (not quantised)
// Here scale = max(amax of the group's bf16 values, 1e-4 = kFp8AmaxFloor) / 448, exact (not
// rounded to a power of two), and e4m3 = RNE(v / scale) saturating, as fp8_quant does; the floor
// turns an all-zero group into zero codes instead of NaN. Pages are [64][656] bytes, so page ids
// and block tables are those of the BF16 cache.
inline constexpr int64_t kMlaFp8Group = 128;
inline constexpr int64_t kMlaFp8Groups = kMlaLatentDim / kMlaFp8Group;                // 4
inline constexpr int64_t kMlaFp8ScaleOffset = kMlaLatentDim;                          // bytes
inline constexpr int64_t kMlaFp8RopeOffset = kMlaFp8ScaleOffset + 4 * kMlaFp8Groups;  // 528
inline constexpr int64_t kMlaFp8RowBytes = kMlaFp8RopeOffset + 2 * kMlaRopeDim;       // 656

// Quantises one row of 576 bf16 values [c_kv ; k_rope] into the 656-byte FP8 layout (pure).
void QuantizeMlaFp8Row(const uint16_t* row, uint8_t* out);
// Decodes one 656-byte FP8 row into 576 floats: c_kv[i] = RoundToBf16(e4m3[i] · scale[i / 128])
// (the bf16 values the CUDA kernel feeds its tensor cores), k_rope = the stored bf16 (pure).
void DequantizeMlaFp8Row(const uint8_t* row, float* out);

// Element type of the latent cache that MlaDecodeParams points to.
enum class MlaKvDtype { kBf16, kFp8 };
const char* MlaKvDtypeName(MlaKvDtype d);

struct MlaDecodeParams {
  // bf16; the 512 values of (b, h) start at q_latent + b·q_batch_stride + h·q_head_stride. Not
  // null.
  const uint16_t* q_latent = nullptr;
  // bf16; the 64 roped values of (b, h) start at q_rope + b·q_batch_stride + h·q_head_stride
  // (so a concatenated [B][H][576] query is q_rope = q_latent + 512). Not null.
  const uint16_t* q_rope = nullptr;
  int64_t q_batch_stride = 0;               // elements
  int64_t q_head_stride = 0;                // elements
  MlaKvDtype kv_dtype = MlaKvDtype::kBf16;  // which of the two cache pointers is set
  // [num_pages][64][576] bf16: not null with kv_dtype kBf16, null with kFp8.
  const uint16_t* kv_cache = nullptr;
  // [num_pages][64][kMlaFp8RowBytes] bytes (FP8 layout above): not null with kv_dtype kFp8, null
  // with kBf16.
  const uint8_t* kv_cache_fp8 = nullptr;
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
// `flashinfer_available` (built, and an object created on this device), bf16 output and the BF16
// cache (kv_dtype kFp8 is ours only: the timings were measured on the BF16 cache). When both
// can, the row of `timings` with the same head count nearest to (batch, max_seq_len) in log scale
// decides: FlashInfer only when it measured faster than ours by more than
// kMlaDecodeFlashInferMargin; ours when that row (or any row for these heads) is unmeasured.
inline constexpr double kMlaDecodeFlashInferMargin = 0.05;
MlaDecodeBackend ChooseMlaDecodeBackend(
    int64_t batch, int64_t heads, int64_t max_seq_len, bool flashinfer_available, bool bf16_out,
    MlaKvDtype kv_dtype = MlaKvDtype::kBf16,
    absl::Span<const MlaDecodeTiming> timings = MlaDecodeTimings());

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_DECODE_MLA_DECODE_H_
