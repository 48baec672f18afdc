// MLA prefill attention in the naive form (spec §6.5) for one sequence's chunk: keys and values
// are decompressed per head (kv_b_proj applied to the cached latents by the caller), so every
// head is ordinary causal attention with a (nope + rope)-wide query/key and a v-wide value:
//
//   score(t, s) = softmax_scale · ( q_nope[t][h] · k_nope[s][h] + q_rope[t][h] · k_rope[s] )
//   out[t][h]   = Σ_{s ≤ q_start + t} softmax_s(score(t, ·)) · v[s][h]        (fp32 math)
//
// for the `tokens` query tokens at absolute positions q_start .. q_start + tokens − 1 and the
// kv_len ≥ q_start + tokens cached positions 0 .. kv_len − 1 (k_rope is shared by all heads, as
// MLA's single roped key). Output bf16, rounded once.
//
// Cheaper than the absorbed form (kernels/mla_attend, mla_decode) when many query tokens share
// the keys: per (t, s) it costs heads·(nope + rope + v) multiply-adds instead of
// heads·(2·latent + rope).
#ifndef R1_KERNELS_MLA_PREFILL_MLA_PREFILL_H_
#define R1_KERNELS_MLA_PREFILL_MLA_PREFILL_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

inline constexpr int64_t kMlaPrefillMaxDim = 256;  // nope_dim + rope_dim and v_dim each

struct MlaPrefillParams {
  // bf16 query: (t, h) holds nope_dim values of q_nope then rope_dim roped values, starting at
  // q + t·q_token_stride + h·q_head_stride. Not null.
  const uint16_t* q = nullptr;
  int64_t q_token_stride = 0;
  int64_t q_head_stride = 0;
  // bf16 decompressed keys/values: (s, h) holds nope_dim values of k_nope then v_dim values of v,
  // starting at kv + s·kv_token_stride + h·kv_head_stride (the [kv_len][heads·(nope + v)]
  // output of kv_b_proj). Not null.
  const uint16_t* kv = nullptr;
  int64_t kv_token_stride = 0;
  int64_t kv_head_stride = 0;
  // bf16 roped key of position s at k_rope + s·k_rope_stride (rope_dim values). Not null when
  // rope_dim > 0.
  const uint16_t* k_rope = nullptr;
  int64_t k_rope_stride = 0;
  // bf16 output: (t, h) at out + t·out_token_stride + h·out_head_stride, v_dim values. Not null.
  uint16_t* out = nullptr;
  int64_t out_token_stride = 0;
  int64_t out_head_stride = 0;
  int64_t tokens = 0;       // ≥ 0 query tokens
  int64_t q_start = 0;      // ≥ 0, absolute position of query token 0
  int64_t kv_len = 0;       // ≥ q_start + tokens
  int64_t heads = 0;        // > 0
  int64_t nope_dim = 0;     // > 0
  int64_t rope_dim = 0;     // ≥ 0, even
  int64_t v_dim = 0;        // > 0
  float softmax_scale = 0;  // > 0
};

absl::Status ValidateMlaPrefill(const MlaPrefillParams& p);

// CPU reference (fp32 math, bf16 output); pointers are host memory.
absl::Status MlaPrefillReference(const MlaPrefillParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_PREFILL_MLA_PREFILL_H_
