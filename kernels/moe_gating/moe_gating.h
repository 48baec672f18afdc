// Fused noaux_tc routing (spec §7) from router logits to the chosen experts and their weights:
//
//   s_e = sigmoid(z_e)                       (fp32)
//   b_e = s_e + bias_e                       (selection only — never used as a weight)
//   Γ_g = sum of the two largest b_e in group g (groups are contiguous runs of E/G experts)
//   keep the topk_groups groups with the largest Γ_g; experts elsewhere score −∞
//   choose the top_k experts by b_e; w_j = s_{e_j} / (Σ_j s_{e_j} + 1e-20) (if normalize)
//   w_j ← w_j · routed_scaling_factor
//
// Ties break towards the lower index (groups and experts alike); the chosen experts are written
// in decreasing b order. Router logits come from the router GEMM in fp32 (bf16_gemm, f32 out).
#ifndef R1_KERNELS_MOE_GATING_MOE_GATING_H_
#define R1_KERNELS_MOE_GATING_MOE_GATING_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct MoeGatingParams {
  const float* logits = nullptr;  // [tokens][experts] f32; not null
  const float* bias = nullptr;    // [experts] f32 e_score_correction_bias; not null
  int32_t* topk_ids = nullptr;    // [tokens][top_k]; not null
  float* topk_weights = nullptr;  // [tokens][top_k]; not null
  int64_t tokens = 0;             // ≥ 0
  int experts = 256;              // n_routed_experts, ≤ 1024
  int groups = 8;                 // n_group, divides experts
  int topk_groups = 4;            // topk_group, 1..groups
  int top_k = 8;                  // num_experts_per_tok, ≤ topk_groups·experts/groups, ≤ 32
  bool normalize = true;          // norm_topk_prob
  float routed_scaling_factor = 2.5f;
  // Nullable; one int32 in the same memory as the other pointers. Rows t ≥ *valid_tokens get ids
  // −1 and weights 0 (no expert: the filler rows of a step padded to a CUDA graph's size).
  const int32_t* valid_tokens = nullptr;
};

absl::Status ValidateMoeGating(const MoeGatingParams& p);

// CPU reference; pointers are host memory.
absl::Status MoeGatingReference(const MoeGatingParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_GATING_MOE_GATING_H_
