// CudaRoutedExperts: runs the routed experts a rank holds on a set of rows (DeviceExpertRows):
// the one implementation behind both the single-GPU MoE (rows = the step's tokens, ids = global
// expert ids, every expert held) and the expert-parallel one (rows = what peers dispatched to
// this rank, ids = local expert indices or −1).
//
//   permute (MoePermute over the held experts) → gather rows (+ FP8 scales) →
//   FP8 W8A8: gate_up → fused SiLU·mul quantisation → down          (FP8 experts)
//   INT4 W4A16: gate_up → SiLU·mul (bf16) → down                     (INT4 experts, bf16 rows)
//   → weighted combine (MoeCombine: fp32 sum in slot order, + add, one bf16 rounding).
//
// BF16 rows into FP8 experts are quantised first (per token, groups of 128, as everywhere);
// FP8 rows into INT4 experts are FailedPrecondition (INT4 experts take bf16 activations).
//
// The FP8 grouped GEMMs run on our kernel or, where built (R1_HAVE_CUTLASS) and measured faster,
// on CUTLASS's blockwise-scaled grouped GEMM: per GEMM, ChooseMoeGemmFp8Backend
// (kernels/moe_gemm/moe_gemm_backend.h) over the measured table, for the call's mean rows per
// held expert (rows·top_k / held: an upper bound when ids of −1 are among them). Both are exact
// to the same contract; last_fp8_backend() tells which ran.
//
// Owns grow-only device scratch sized by the largest rows·top_k seen. Growing never waits: the
// replaced buffers are kept (queued kernels may still use them) until ReleaseRetired(), which
// the model calls once its stream is idle at the end of a step — a wait here could otherwise sit
// behind a peer's transfer on the same stream. Thread-compatible; enqueues on the given stream,
// never synchronises.
#ifndef R1_WORKER_BACKEND_CUDA_ROUTED_EXPERTS_H_
#define R1_WORKER_BACKEND_CUDA_ROUTED_EXPERTS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_backend.h"
#include "worker/backend/cuda_weights.h"
#include "worker/backend/device_arena.h"
#include "worker/backend/device_expert_executor.h"

namespace r1 {

class CudaRoutedExperts {
 public:
  // `hidden`: the model's hidden size (multiple of 128); `max_inter_pad`: the largest padded
  // routed-expert width of any layer.
  // `library_gemms`: let the measured choice pick CUTLASS's FP8 grouped GEMM (false: ours only).
  CudaRoutedExperts(int64_t hidden, int64_t max_inter_pad, bool int4, bool library_gemms = true)
      : hidden_(hidden), inter_pad_(max_inter_pad), int4_(int4), library_gemms_(library_gemms) {}

  // out = (add +) Σ held experts' weighted outputs, for layer weights `layer` (on `stream`).
  absl::Status Run(const DeviceLayer& layer, const DeviceExpertRows& rows, void* stream);

  // Frees the scratch replaced by growth since the last call. Only when no queued kernel can
  // still use it (the stream Run enqueued on is idle).
  void ReleaseRetired() { retired_.clear(); }
  // Counts the scratch reallocations (a CUDA graph captured on one scratch must not replay on
  // another).
  uint64_t generation() const { return generation_; }

  // The FP8 gate_up GEMM's implementation in the last Run (kNone: no FP8 GEMM ran).
  kernels::MoeGemmFp8Backend last_fp8_backend() const { return last_fp8_backend_; }

 private:
  struct Scratch;
  absl::Status Ensure(int64_t rows, int top_k);
  // One FP8 grouped GEMM on the implementation the measured table picks.
  absl::Status RunFp8Gemm(const kernels::MoeGemmFp8Params& p, int64_t rows_per_expert, void* stream,
                          kernels::MoeGemmFp8Backend* ran);

  int64_t hidden_, inter_pad_;
  bool int4_;
  bool library_gemms_;
  kernels::MoeGemmFp8Backend last_fp8_backend_ = kernels::MoeGemmFp8Backend::kNone;
  std::shared_ptr<Scratch> scratch_;
  uint64_t generation_ = 0;
  std::vector<std::shared_ptr<Scratch>> retired_;  // replaced, possibly still read by the device
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_CUDA_ROUTED_EXPERTS_H_
