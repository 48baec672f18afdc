// Grouped-query attention over a paged BF16 K/V cache (the dense Qwen2 / Llama models): for
// every query token t and query head h, with kv head g = h / (heads / kv_heads),
//
//   o[t][h] = Σ_{s < seq_lens[t]} softmax_s(scale · q[t][h] · k[s][g]) · v[s][g]
//
// over the positions [0, seq_lens[t]) of token t's sequence, read through its row of the block
// table: position s lives in page block_table[t][s / 64], slot s % 64. A prefill token at
// position p passes seq_lens = p + 1 (causal); decode tokens likewise. fp32 math (scores,
// softmax, accumulation), one bf16 rounding of the output. A token with seq_lens[t] ≤ 0 gets
// zeros.
//
// Cache addressing: K of (page, slot, g) at k_cache + page·page_stride + slot·row_stride +
// g·head_dim, V likewise from v_cache (the dense models' rows are [K ; V], so v_cache = k_cache
// + kv_heads·head_dim with the same strides).
//
// The CUDA kernel splits each token's positions into chunks (ChooseGqaAttendConfig, pure) when
// the batch alone would not fill the GPU, and combines the chunks' partial results through the
// caller's f32 workspace (flash-decoding). It is the correctness-first path for every dense
// shape (head_dim 16..256, any group size); prefill chunks re-read their sequence's keys once
// per query token.
#ifndef R1_KERNELS_GQA_ATTEND_GQA_ATTEND_H_
#define R1_KERNELS_GQA_ATTEND_GQA_ATTEND_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

inline constexpr int64_t kGqaPageTokens = 64;
// Query heads one CTA of the CUDA kernel serves (a larger group runs in several CTAs).
inline constexpr int kGqaMaxHeadsPerCta = 8;

struct GqaAttendParams {
  const uint16_t* q = nullptr;           // bf16, head h of token t at q + t·q_stride + h·head_dim
  int64_t q_stride = 0;                  // ≥ heads·head_dim
  const uint16_t* k_cache = nullptr;     // bf16 pages (see above); not null
  const uint16_t* v_cache = nullptr;     // bf16 pages; not null
  int64_t page_stride = 0;               // elements between pages, ≥ 64·row_stride
  int64_t row_stride = 0;                // elements between slots, ≥ kv_heads·head_dim
  int64_t num_pages = 0;                 // > 0; page ids must lie in [0, num_pages)
  const int32_t* block_table = nullptr;  // [tokens][block_table_stride] page ids
  int64_t block_table_stride = 0;        // ≥ ceil(max seq_lens / 64)
  const int32_t* seq_lens = nullptr;     // [tokens] positions visible to each token
  uint16_t* out = nullptr;               // bf16, head h of token t at out + t·out_stride + h·hd
  int64_t out_stride = 0;                // ≥ heads·head_dim
  int64_t tokens = 0;                    // ≥ 0
  int heads = 0;                         // > 0, a multiple of kv_heads
  int kv_heads = 0;                      // > 0
  int head_dim = 0;                      // 16, 32, 64, 128 or 256 for the CUDA kernel
  float softmax_scale = 1.0f;
  // CUDA only: the chunk split and its f32 workspace (GqaAttendConfig::workspace_bytes).
  int64_t max_seq_len = 0;  // ≥ every seq_lens[t]
  float* workspace = nullptr;
  size_t workspace_bytes = 0;
};

absl::Status ValidateGqaAttend(const GqaAttendParams& p);

// CPU reference; pointers are host memory. Page ids and lengths are range-checked.
absl::Status GqaAttendReference(const GqaAttendParams& p);

// How the CUDA kernel splits the work: CTAs of (token, kv head, ≤ 8 query heads, chunk of
// `chunk` positions). Pure: a batch with fewer CTAs than SMs is split towards two CTAs per SM
// as far as positions allow (chunks of at least 256 positions); a larger one is not split.
struct GqaAttendConfig {
  int64_t splits = 1;
  int64_t chunk = 0;           // positions per split (a multiple of 128)
  size_t workspace_bytes = 0;  // 0 when splits == 1
};
GqaAttendConfig ChooseGqaAttendConfig(int64_t tokens, int heads, int kv_heads, int head_dim,
                                      int64_t max_seq_len, int sm_count);

}  // namespace r1::kernels

#endif  // R1_KERNELS_GQA_ATTEND_GQA_ATTEND_H_
