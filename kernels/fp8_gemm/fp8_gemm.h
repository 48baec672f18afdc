// Dense FP8 block-scaled GEMM with DeepSeek scaling (spec §9):
//
//   out[i][j] = Σ_kb ( Σ_{k in block kb} x[i][k]·w[j][k] ) · x_scale(i, kb) · w_scale(j/128, kb)
//
// x: activations, e4m3 with one f32 scale per (row, 128-channel group) — what fp8_quant writes;
// w: weight [n][k] e4m3 with the checkpoint's 128×128 block scales (`weight_scale_inv`); fp32
// accumulation, bf16 output. n need not be a multiple of 128 (kv_a_proj_with_mqa has 576 rows).
//
// Two backends, picked by ChooseFp8GemmBackend (pure):
//  * cuBLASLt's block-scaled FP8 mode (DESIGN.md §13): A = weight with TRANSA=T and
//    BLK128x128_32F scales [ceil(n/128)][round_up(k/128, 4)], B = activations with VEC128_32F
//    scales [k/128][m] (m fastest). Used for m > 32 when the layouts match exactly.
//  * the weight-streaming kernel of kernels/moe_gemm (memory-bound decode shapes, any m, any
//    scale strides), with split-K when the weight has too few 128-row tiles to fill the GPU.
// If cuBLASLt reports no algorithm the launcher falls back to the streaming kernel; it never
// returns a wrong result silently.
#ifndef R1_KERNELS_FP8_GEMM_FP8_GEMM_H_
#define R1_KERNELS_FP8_GEMM_FP8_GEMM_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct Fp8GemmParams {
  const uint8_t* x = nullptr;  // [m][k] e4m3, row-major (row stride k); not null
  const float* x_scale =
      nullptr;                 // f32; (row i, K block kb) at x_scale[kb·x_scale_ld + i]; not null
  int64_t x_scale_ld = 0;      // ≥ m
  const uint8_t* w = nullptr;  // [n][k] e4m3, row-major; not null
  const float* w_scale = nullptr;  // [ceil(n/128)][w_scale_ld] f32; not null
  int64_t w_scale_ld = 0;          // ≥ k/128
  uint16_t* out = nullptr;         // [m][out_ld] bf16; not null
  int64_t out_ld = 0;              // ≥ n
  int64_t m = 0;                   // ≥ 0
  int64_t n = 0;                   // > 0
  int64_t k = 0;                   // > 0, multiple of 128
  void* workspace = nullptr;  // device scratch (cuBLASLt workspace, split-K partials); nullable
  size_t workspace_bytes = 0;
};

// Activation-scale leading dimension the cuBLASLt path expects: allocate x_scale as
// [k/128][Fp8GemmActScaleLd(m)] and pass that to fp8_quant (SetGroupMajorScales).
inline int64_t Fp8GemmActScaleLd(int64_t m) { return m; }
// Weight-scale row stride the cuBLASLt path expects (k/128 rounded up to a multiple of 4; all of
// R1's k/128 already are, so the checkpoint's tensor is used as is).
inline int64_t Fp8GemmWeightScaleLd(int64_t k) { return (k / 128 + 3) / 4 * 4; }
// Workspace that lets every backend run at full speed for this shape.
size_t Fp8GemmWorkspaceBytes(int64_t m, int64_t n, int64_t k);

inline constexpr int64_t kFp8GemmStreamMaxM = 32;  // m at or below this streams the weight

enum class Fp8GemmBackend { kCublasLt, kStream };
// Pure: the backend LaunchFp8Gemm tries first for these parameters (pointer alignment included).
Fp8GemmBackend ChooseFp8GemmBackend(const Fp8GemmParams& p);

absl::Status ValidateFp8Gemm(const Fp8GemmParams& p);

// CPU reference (spec §9 formula, fp32); pointers are host memory; workspace unused.
absl::Status Fp8GemmReference(const Fp8GemmParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_FP8_GEMM_FP8_GEMM_H_
