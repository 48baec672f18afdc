// CUTLASS's Hopper mixed-input grouped GEMM (int4 weights × bf16 activations, the kernel of
// CUTLASS example 69: KernelPtrArrayTmaWarpSpecializedCooperative with a tuple<int4b_t, bf16>
// operand, nvidia-cutlass 4.2.0) run on our MoeGemmInt4Params, beside our weight-streaming kernel
// (LaunchMoeGemmInt4, moe_gemm_cuda.h), so that both are measured in one process and
// ChooseMoeGemmInt4Backend (moe_gemm_backend.h) can pick per regime.
//
// Built only when CMake finds the pinned wheel's headers (R1_HAVE_CUTLASS; cmake/R1Cutlass.cmake).
// All CUTLASS code lives in moe_gemm_cutlass_int4.cu; this header includes no CUTLASS, CuTe or
// CCCL header.
//
// Math: per expert e, out[t][j] = Σ_g Σ_{k in g} x[t][k] · bf16(q_e[j][k] · s_e[g][j]), fp32
// accumulation, bf16 output. CUTLASS dequantises in registers before the bf16 wgmma: each weight
// becomes the bf16 product q·s (q in −8..7 and s bf16 need up to 11 significant bits, so the
// product is rounded to bf16's 8), where our kernel and the CPU reference keep q exact and scale
// each group's fp32 partial sum. The relative error per product is ≤ 2^-9 and averages out over
// K; results agree within the tolerance of testing::CheckBf16Close.
//
// Weight preparation (once, at load): CUTLASS's mainloop reads the weights in its own layout, so
// PrepareCutlassMoeGemmInt4Weights converts ours (int4_quant.h) into a second buffer of the same
// size, experts·n·k/2 bytes:
//   - values: our offset-binary nibble u = q + 8 becomes the two's-complement nibble of
//     cutlass::int4b_t, u ^ 8 (exact; our int4 is symmetric, so no zero point is needed);
//   - order: CUTLASS's "shuffled" layout (cutlass::compute_memory_reordering_atom for a bf16
//     wgmma, values permuted [0,2,4,6,1,3,5,7] inside each thread's 8-value word), which places
//     the 8 values one thread feeds to the tensor core in one 32-bit word. It interleaves rows
//     (one 16 × 16 atom per 128 bytes), so the result is opaque: only this GEMM can read it.
// Scales need no conversion: CUTLASS takes one bf16 scale per (weight row, 128-channel group) in
// an M-major layout, which is our group-major [experts][k/128][n] as it is (chunk size 128).
// Preparation cost: the output buffer (as large as the weights; the original may be freed after
// if only CUTLASS is used) plus a temporary of max(64 MB, n·k bytes) (one byte per weight for a
// chunk of experts) allocated and freed inside the call; traffic ≈ 3 bytes per weight (read ½,
// scatter 1, read 1, write ½), estimated at a few ms per GB of int4 weights on an H100 (not yet
// measured: moe_gemm_cutlass_int4_bench prints it).
//
// Contract differences from LaunchMoeGemmInt4:
//   - p.w must be the prepared buffer (same experts, n and k); our layout gives wrong results.
//   - n % 16 == 0 (the layout atom is 16 rows; also 16-byte aligned scale and output rows);
//     x, w, w_scale and out 16-byte aligned.
//   - The expert sizes stay on the device: a setup kernel reads expert_offsets (clamped like
//     ours: [b, e) with b = clamp(off[i], 0, tokens), e = clamp(off[i+1], b, tokens)) and writes
//     CUTLASS's per-group shapes, pointers, strides and weight layouts into this object's buffers
//     (host shapes are nullptr: one persistent CTA per SM). No host synchronisation, no
//     allocation per call.
//   - Operands are swapped as in example 69 (the int4 operand must be CUTLASS's register-sourced
//     A): weights are CUTLASS's M, tokens its N, and D = outᵀ column-major (ld n), the same bytes
//     as our row-major out.
//   - Two instantiations (CutlassInt4Tile): kDecode 128 weight rows × 32 tokens × 64 (one N tile
//     holds an expert of ≤ 32 tokens), kPrefill 128 × 128 × 64; both cluster 1×1×1, K tile 64
//     (128 bytes of bf16), so each 128-channel scale is reloaded every second K tile.
//
// Build cost of moe_gemm_cutlass_int4.cu (both instantiations; `/usr/bin/time -v` of CMake's
// nvcc command, -O2 -g, CUDA 13.0.88, GCC 12.2, sm_90a, 2-core machine): 102 s wall (82 s user),
// 5.9 GB peak resident memory, 11.5 MB object. ptxas: both GEMM kernels 168 registers, no spills;
// the auto stage count is 23 (decode tile) and 9 (prefill tile).
#ifndef R1_KERNELS_MOE_GEMM_MOE_GEMM_CUTLASS_INT4_H_
#define R1_KERNELS_MOE_GEMM_MOE_GEMM_CUTLASS_INT4_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cutlass.h"  // CutlassMoeGemmCapacity (a plain struct)

namespace r1::kernels {

enum class CutlassInt4Tile {
  kDecode,   // 128 weight rows × 32 tokens × 64 channels, cluster 1×1×1
  kPrefill,  // 128 weight rows × 128 tokens × 64 channels, cluster 1×1×1
};
const char* CutlassInt4TileName(CutlassInt4Tile t);

// Converts our packed int4 weights (int4_quant.h layout, [experts][n][k/2], device memory, w) into
// the layout CutlassMoeGemmInt4 reads (device memory, out, experts·n·k/2 bytes, must not overlap
// w); see the header comment. Requires n % 16 == 0, k % 128 == 0 and 16-byte aligned pointers.
// Enqueued on `stream`, then waited for (it allocates and frees its temporary): a load-time call,
// not for a CUDA graph.
absl::Status PrepareCutlassMoeGemmInt4Weights(const uint8_t* w, int64_t experts, int64_t n,
                                              int64_t k, uint8_t* out, cudaStream_t stream);

// The CUTLASS grouped GEMM with its argument buffers. Owns, for its lifetime, device memory for the
// per-group arrays CUTLASS reads (problem shapes, A/B/D and scale pointers, strides and weight
// layouts: ~130 bytes per expert and configuration) and each configuration's workspace (TMA
// descriptors per SM for the weights, activations, scales and output: ~70 KB on 132 SMs). Created
// on the current device and used only there. Not thread-safe: one instance per stream, called from
// one thread at a time; a Run() rewrites buffers the previous Run()'s kernel reads, so all calls
// must be issued on one stream (or otherwise ordered). Run() is asynchronous and allocates nothing,
// so it may be captured in a CUDA graph once each (tile, experts) pair has been run outside a
// capture (the first run of a pair prepares CUTLASS's kernel parameters and sets its shared-memory
// attribute on the host).
class CutlassMoeGemmInt4 {
 public:
  static absl::StatusOr<std::unique_ptr<CutlassMoeGemmInt4>> Create(
      const CutlassMoeGemmCapacity& c);
  ~CutlassMoeGemmInt4();
  CutlassMoeGemmInt4(const CutlassMoeGemmInt4&) = delete;
  CutlassMoeGemmInt4& operator=(const CutlassMoeGemmInt4&) = delete;

  // Enqueues the setup kernel and the GEMM on `stream`. Pointers in `p` are device memory,
  // borrowed for the call; p.w is a PrepareCutlassMoeGemmInt4Weights output.
  absl::Status Run(const MoeGemmInt4Params& p, CutlassInt4Tile tile, cudaStream_t stream);

  // Bytes of device memory this object holds.
  size_t device_bytes() const;

 private:
  struct State;  // CUTLASS's Gemm objects and the buffers (defined in the .cu only)
  explicit CutlassMoeGemmInt4(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

namespace internal {

// Offset, in int4 elements from the start of one expert's prepared weights, of weight (row, col)
// (0 ≤ row < n, 0 ≤ col < k; n % 16 == 0, k % 128 == 0): CUTLASS's layout evaluated on the host,
// for tests of PrepareCutlassMoeGemmInt4Weights. Element 2i is the low nibble of byte i.
int64_t CutlassInt4WeightOffset(int64_t n, int64_t k, int64_t row, int64_t col);

}  // namespace internal
}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_GEMM_MOE_GEMM_CUTLASS_INT4_H_
