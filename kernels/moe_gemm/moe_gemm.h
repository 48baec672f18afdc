// Grouped expert GEMM for the MoE decode regime (few tokens per expert; memory-bound on weights).
// Tokens arrive already permuted so that expert e's rows are [offsets[e], offsets[e+1]) of x
// (kernels/moe_permute); every expert multiplies its rows by its own weight:
//
//   out[t][j] = Σ_k x[t][k] · W_e[j][k]      for t in expert e's rows, j < n
//
// Two weight formats:
//  * FP8 W8A8 (DeepSeek block scaling, spec §9): x e4m3 with one f32 scale per (row, 128-channel
//    group), W e4m3 with one f32 scale per 128×128 block; each 128-wide K block's partial dot
//    product is scaled by x_scale·w_scale and added into an fp32 accumulator.
//  * INT4 W4A16 (spec §13.3, layout in kernels/int4_quant): x bf16, W int4 with one bf16 scale per
//    (row, 128-channel group); each group's partial sum (exact int4 × bf16 products, fp32
//    accumulation) is multiplied by its scale and accumulated in fp32.
// Output bf16. Rows of x that belong to no expert are not written.
#ifndef R1_KERNELS_MOE_GEMM_MOE_GEMM_H_
#define R1_KERNELS_MOE_GEMM_MOE_GEMM_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct MoeGemmFp8Params {
  const uint8_t* x = nullptr;      // [tokens][k] e4m3, row-major, grouped by expert; not null
  const float* x_scale = nullptr;  // f32; (row t, K block j) at x_scale[j·x_scale_ld + t]; not null
  int64_t x_scale_ld = 0;          // ≥ tokens
  const uint8_t* w = nullptr;      // [experts][n][k] e4m3, row-major; not null
  const float* w_scale = nullptr;  // [experts][ceil(n/128)][w_scale_ld] f32; not null
  int64_t w_scale_ld = 0;          // ≥ k/128
  // [experts + 1] int32, nondecreasing, offsets[0] ≥ 0, offsets[experts] ≤ tokens; not null.
  // Device memory for the CUDA launch (the launch cannot check it; out-of-range values are
  // clamped).
  const int32_t* expert_offsets = nullptr;
  uint16_t* out = nullptr;  // [tokens][n] bf16, row-major; not null
  int64_t tokens = 0;       // ≥ 0
  int64_t experts = 0;      // > 0
  int64_t n = 0;            // > 0
  int64_t k = 0;            // > 0, multiple of 128
};

struct MoeGemmInt4Params {
  const uint16_t* x = nullptr;  // [tokens][k] bf16, row-major, grouped by expert; not null
  const uint8_t* w = nullptr;   // [experts][n][k/2] packed int4 (int4_quant.h); not null
  const uint16_t* w_scale =
      nullptr;  // [experts][k/128][n] bf16 (group-major, int4_quant.h); not null
  const int32_t* expert_offsets = nullptr;  // as in MoeGemmFp8Params
  uint16_t* out = nullptr;                  // [tokens][n] bf16; not null
  int64_t tokens = 0;
  int64_t experts = 0;
  int64_t n = 0;  // > 0; the CUDA kernel needs n % 8 == 0
  int64_t k = 0;  // > 0, multiple of 128
};

absl::Status ValidateMoeGemmFp8(const MoeGemmFp8Params& p);
absl::Status ValidateMoeGemmInt4(const MoeGemmInt4Params& p);

// CPU references; pointers (expert_offsets included) are host memory.
absl::Status MoeGemmFp8Reference(const MoeGemmFp8Params& p);
absl::Status MoeGemmInt4Reference(const MoeGemmInt4Params& p);

// Launch configuration of the weight-streaming kernels (pure, CPU-testable). A CTA owns 128
// weight rows of one expert and streams the whole K range (or 1/splits of it) once per pass of
// up to 64 tokens (FP8; 32 for INT4). Split-K (fp32 partials in a workspace, reduced in a fixed
// order) is used only when there are too few row tiles to fill the GPU, which happens for dense
// small-M GEMMs.
struct StreamGemmConfig {
  int splits = 1;           // K splits (each split gets ceil(kblocks/splits) 128-wide blocks)
  int64_t workspace_bytes;  // fp32 partials needed: splits > 1 ? splits·tokens·n·4 : 0
};
inline constexpr int kStreamGemmRowsPerCta = 128;
inline constexpr int kStreamGemmTokensPerPass = 32;     // INT4
inline constexpr int kStreamGemmFp8TokensPerPass = 64;  // FP8
StreamGemmConfig ChooseStreamGemmConfig(int64_t groups, int64_t tokens, int64_t n, int64_t k,
                                        int sm_count, int64_t workspace_bytes_available);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_GEMM_MOE_GEMM_H_
