// MLA attention in the absorbed form (spec §6.6) over the paged latent KV cache, for any latent
// and RoPE widths and any head count — the general companion of kernels/mla_decode, which is
// specialised to R1's 512 + 64 dims and 64-head groups. Used for models that are not R1-sized
// (the tiny and golden models) and for prefill chunks, where every query token of a chunk is one
// entry whose length ends at its own position (causality by construction, as in mla_decode).
//
// For each entry b (one query token) and head h, with T = seq_lens[b] cached tokens:
//   score(s) = softmax_scale · ( q_latent[b][h] · c_kv(s) + q_rope[b][h] · k_rope(s) ),  s < T
//   out[b][h] = Σ_s softmax(score)(s) · c_kv(s)                      (latent_dim values, fp32)
// where cache row s = [c_kv(s) (latent_dim) ; k_rope(s) (rope_dim)] lives in page
// block_table[b][s / 64] at row s % 64. An entry with T = 0 yields zeros.
//
// CUDA kernel: one CTA per (entry, head); scores of a 64-token page at a time in shared memory,
// online softmax in fp32, fp32 accumulation; output rounded once to bf16. Simple on purpose: it
// is the correctness path for small models; R1-sized decode goes through mla_decode.
#ifndef R1_KERNELS_MLA_ATTEND_MLA_ATTEND_H_
#define R1_KERNELS_MLA_ATTEND_MLA_ATTEND_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

inline constexpr int64_t kMlaAttendPageTokens = 64;  // tokens per KV-cache page
inline constexpr int64_t kMlaAttendMaxLatent = 1024;
inline constexpr int64_t kMlaAttendMaxRope = 256;

struct MlaAttendParams {
  // bf16; the latent_dim values of (b, h) start at q_latent + b·q_batch_stride + h·q_head_stride.
  // Not null.
  const uint16_t* q_latent = nullptr;
  // bf16; the rope_dim values of (b, h) start at q_rope + b·q_batch_stride + h·q_head_stride.
  // Not null.
  const uint16_t* q_rope = nullptr;
  int64_t q_batch_stride = 0;            // elements
  int64_t q_head_stride = 0;             // elements
  const uint16_t* kv_cache = nullptr;    // [num_pages][64][latent_dim + rope_dim] bf16; not null
  int64_t num_pages = 0;                 // > 0
  const int32_t* block_table = nullptr;  // [batch][block_table_stride] page ids; not null
  int64_t block_table_stride = 0;        // > 0 (max pages per entry)
  const int32_t* seq_lens = nullptr;     // [batch], 0 ≤ len ≤ block_table_stride·64; not null
  uint16_t* out = nullptr;       // bf16, (b, h) at out + b·out_batch_stride + h·out_head_stride
  int64_t out_batch_stride = 0;  // elements
  int64_t out_head_stride = 0;   // elements, ≥ latent_dim
  int64_t batch = 0;             // ≥ 0
  int64_t heads = 0;             // > 0
  int64_t latent_dim = 0;        // 1..kMlaAttendMaxLatent, multiple of 8
  int64_t rope_dim = 0;          // 0..kMlaAttendMaxRope, multiple of 2
  float softmax_scale = 0;
};

absl::Status ValidateMlaAttend(const MlaAttendParams& p);

// CPU reference (fp32 math, bf16 output); pointers are host memory. Page ids and lengths are
// bounds-checked (InvalidArgument).
absl::Status MlaAttendReference(const MlaAttendParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_ATTEND_MLA_ATTEND_H_
