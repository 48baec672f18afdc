// CUTLASS's Hopper FP8 grouped GEMM with DeepSeek blockwise scaling (the kernel of CUTLASS example
// 68: KernelPtrArrayTmaWarpSpecializedCooperativeFP8Blockwise, nvidia-cutlass 4.2.0) run on our
// MoeGemmFp8Params, beside our weight-streaming kernel (moe_gemm_cuda.h), so that both are
// measured in one process and ChooseMoeGemmFp8Backend (moe_gemm_backend.h) can pick per regime.
//
// Built only when CMake finds the pinned wheel's headers (R1_HAVE_CUTLASS; see
// cmake/R1Cutlass.cmake). All CUTLASS code lives in moe_gemm_cutlass.cu; this header includes no
// CUTLASS, CuTe or CCCL header.
//
// Same math as LaunchMoeGemmFp8: per expert e, out[t][j] = Σ_kb x_scale(t,kb)·w_scale(e,j/128,kb)
// · Σ_{k in kb} x[t][k]·W_e[j][k], fp32 accumulation per 128-wide K block (CUTLASS promotes the
// wgmma accumulator into the scaled fp32 sum once per K block), bf16 output. Rows outside every
// expert are not written. Differences in the contract:
//   - n % 8 == 0 (TMA needs 16-byte aligned bf16 output rows); x, w and out 16-byte aligned.
//   - The expert sizes stay on the device: a setup kernel reads expert_offsets (clamped like ours:
//     [b, e) with b = clamp(off[i], 0, tokens), e = clamp(off[i+1], b, tokens)) and writes
//     CUTLASS's per-group problem shapes, pointer arrays and strides into this object's buffers;
//     CUTLASS's grouped scheduler reads those device shapes (host shapes are nullptr, so the
//     grid is one persistent CTA per SM). No host synchronisation, no allocation per call.
//   - Scale layouts. In grouped mode CUTLASS 4.2 ignores the scale layouts passed in its
//     arguments and rebuilds them inside the kernel from each group's (M, N, K) as *packed*
//     tensors (sm90_mma_array_tma_gmma_ss_warpspecialized_fp8_blockwise_scaling.hpp,
//     load_init), so a leading dimension such as x_scale_ld cannot be expressed. We instantiate
//     K-major scales for both operands; packed per group that is:
//       activations: [tokens][k/128], token-major — the group starting at row off[e] begins at
//                    scale + off[e]·(k/128). fp8_quant writes this layout (SetTokenMajorScales).
//       weights:     [experts][ceil(n/128)][k/128] — our w_scale when w_scale_ld == k/128.
//     Our group-major x_scale ([k/128][x_scale_ld], tokens fastest) is therefore transposed by
//     the same setup kernel into a token-major buffer owned by this object (tokens·k/128 floats
//     read and written per call), unless the caller passes token-major scales to Run(), which
//     then ignores p.x_scale. w_scale with w_scale_ld ≠ k/128 is repacked the same way (every
//     call; pass w_scale_ld == k/128 to avoid it).
//   - Two instantiations (CutlassMoeGemmTile): kDecode computes outᵀ = W·xᵀ (operands swapped:
//     weights are CUTLASS's M, a 128×32×128 tile, so 1–32 tokens per expert fill one N tile
//     instead of padding a 64/128-row M tile); kPrefill is the plain 128×128×128 cooperative
//     tile with a 1×2×1 cluster (example 68's configuration) for hundreds of tokens per expert.
#ifndef R1_KERNELS_MOE_GEMM_MOE_GEMM_CUTLASS_H_
#define R1_KERNELS_MOE_GEMM_MOE_GEMM_CUTLASS_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/moe_gemm/moe_gemm.h"

namespace r1::kernels {

enum class CutlassMoeGemmTile {
  kDecode,   // swapped operands, tile 128 weight rows × 32 tokens × 128, cluster 1×1×1
  kPrefill,  // tile 128 tokens × 128 weight rows × 128, cluster 1×2×1
};
const char* CutlassMoeGemmTileName(CutlassMoeGemmTile t);

// Sizes the buffers of a CutlassMoeGemmFp8 are allocated for; Run() refuses larger calls.
struct CutlassMoeGemmCapacity {
  int64_t max_experts = 0;  // > 0
  int64_t max_tokens = 0;   // ≥ 0 (rows of x, not only those inside experts)
  int64_t max_n = 0;        // > 0
  int64_t max_k = 0;        // > 0, multiple of 128
};

// The CUTLASS grouped GEMM with its argument buffers. Owns, for its lifetime, device memory for:
// the per-group arrays CUTLASS reads (problem shapes, A/B/D and scale pointers, strides and scale
// layouts: ~120 bytes per expert and configuration), the token-major activation scales
// (max_tokens·max_k/128 floats), the repacked weight scales (max_experts·ceil(max_n/128)·max_k/128
// floats) and each configuration's workspace (TMA descriptors per SM: ~70 KB on 132 SMs). Created
// on the current device and used only there. Not thread-safe: one instance per stream, called from
// one thread at a time; a Run() rewrites buffers the previous Run()'s kernel reads, so all calls
// must be issued on one stream (or otherwise ordered). Run() is asynchronous and allocates nothing,
// so it may be captured in a CUDA graph once each (tile, experts) pair has been run outside a
// capture (the first run of a pair prepares CUTLASS's kernel parameters and sets its
// shared-memory attribute on the host).
class CutlassMoeGemmFp8 {
 public:
  static absl::StatusOr<std::unique_ptr<CutlassMoeGemmFp8>> Create(const CutlassMoeGemmCapacity& c);
  ~CutlassMoeGemmFp8();
  CutlassMoeGemmFp8(const CutlassMoeGemmFp8&) = delete;
  CutlassMoeGemmFp8& operator=(const CutlassMoeGemmFp8&) = delete;

  // Enqueues the setup kernel and the GEMM on `stream`. Pointers in `p` are device memory,
  // borrowed for the call. `x_scale_token_major` (nullable; device, [tokens][k/128] f32, borrowed)
  // replaces p.x_scale when given, which skips the scale transpose; p.x_scale must still be
  // non-null for validation.
  absl::Status Run(const MoeGemmFp8Params& p, CutlassMoeGemmTile tile, cudaStream_t stream,
                   const float* x_scale_token_major = nullptr);

  // Bytes of device memory this object holds.
  size_t device_bytes() const;

 private:
  struct State;  // CUTLASS's Gemm objects and the buffers (defined in the .cu only)
  explicit CutlassMoeGemmFp8(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_GEMM_MOE_GEMM_CUTLASS_H_
