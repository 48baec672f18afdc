// Token permutation for the grouped expert GEMM and the weighted combine back (DESIGN.md §6):
//
//  * MoePermute: from topk_ids [tokens][top_k] builds expert_offsets [experts+1] and, for each
//    permuted row p, its source (token·top_k + slot); rows of one expert appear in increasing
//    (token, slot) order (stable, deterministic). Ids outside [0, experts) — e.g. experts owned
//    by another rank — are routed nowhere (inv_perm = −1).
//  * MoeGatherRows: dst[p] = src[perm_src[p] / top_k] for rows of any byte width (bf16 or fp8
//    activations), and MoeGatherScales for the group-major FP8 scales [k/128][ld] of fp8_quant.
//  * MoeCombine: out[t] = Σ_j w[t][j] · y[inv_perm[t·top_k + j]] (+ add[t]) in fp32, slots in
//    order, one bf16 rounding — the routed-expert sum of spec §7 (plus the shared expert).
#ifndef R1_KERNELS_MOE_PERMUTE_MOE_PERMUTE_H_
#define R1_KERNELS_MOE_PERMUTE_MOE_PERMUTE_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct MoePermuteParams {
  const int32_t* topk_ids = nullptr;  // [tokens][top_k]; not null when tokens > 0
  int64_t tokens = 0;                 // ≥ 0
  int top_k = 8;                      // > 0
  int experts = 256;                  // > 0, ≤ 1024
  int32_t* expert_offsets = nullptr;  // out [experts + 1]; not null
  int32_t* perm_src = nullptr;        // out [tokens·top_k]: token·top_k + slot of row p; not null
  int32_t* inv_perm = nullptr;        // out [tokens·top_k]: row of (token, slot) or −1; not null
};
absl::Status ValidateMoePermute(const MoePermuteParams& p);
absl::Status MoePermuteReference(const MoePermuteParams& p);

struct MoeGatherRowsParams {
  const uint8_t* src = nullptr;  // [tokens][src_stride] bytes; not null
  int64_t src_stride = 0;        // bytes ≥ row_bytes
  uint8_t* dst = nullptr;        // [rows][dst_stride] bytes; not null
  int64_t dst_stride = 0;        // bytes ≥ row_bytes
  int64_t row_bytes = 0;         // > 0 (the CUDA kernel needs a multiple of 16 and 16-B alignment)
  const int32_t* perm_src = nullptr;  // [rows] from MoePermute; not null
  int top_k = 8;
  int64_t rows = 0;  // = expert_offsets[experts] (host-known upper bound is fine: see valid_rows)
  const int32_t* valid_rows = nullptr;  // nullable device/host scalar: rows ≥ *valid_rows skipped
};
absl::Status ValidateMoeGatherRows(const MoeGatherRowsParams& p);
absl::Status MoeGatherRowsReference(const MoeGatherRowsParams& p);

struct MoeGatherScalesParams {
  const float* src = nullptr;  // [groups][src_ld] group-major; not null
  int64_t src_ld = 0;
  float* dst = nullptr;  // [groups][dst_ld]; not null
  int64_t dst_ld = 0;    // ≥ rows
  int64_t groups = 0;    // k/128
  const int32_t* perm_src = nullptr;
  int top_k = 8;
  int64_t rows = 0;
  const int32_t* valid_rows = nullptr;  // as above
};
absl::Status ValidateMoeGatherScales(const MoeGatherScalesParams& p);
absl::Status MoeGatherScalesReference(const MoeGatherScalesParams& p);

struct MoeCombineParams {
  const uint16_t* y = nullptr;        // [rows][dim] bf16 expert outputs (permuted order); not null
  const int32_t* inv_perm = nullptr;  // [tokens·top_k]; not null
  const float* weights = nullptr;     // [tokens][top_k]; not null
  const uint16_t* add = nullptr;      // [tokens][dim] bf16 (shared expert output); nullable
  uint16_t* out = nullptr;            // [tokens][dim] bf16; not null
  int64_t tokens = 0;
  int top_k = 8;
  int64_t dim = 0;  // > 0 (the CUDA kernel needs dim % 8 == 0)
};
absl::Status ValidateMoeCombine(const MoeCombineParams& p);
absl::Status MoeCombineReference(const MoeCombineParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_PERMUTE_MOE_PERMUTE_H_
