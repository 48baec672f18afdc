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
#include "worker/backend/cuda_weights.h"
#include "worker/backend/device_arena.h"
#include "worker/backend/device_expert_executor.h"

namespace r1 {

class CudaRoutedExperts {
 public:
  // `hidden`: the model's hidden size (multiple of 128); `max_inter_pad`: the largest padded
  // routed-expert width of any layer.
  CudaRoutedExperts(int64_t hidden, int64_t max_inter_pad, bool int4)
      : hidden_(hidden), inter_pad_(max_inter_pad), int4_(int4) {}

  // out = (add +) Σ held experts' weighted outputs, for layer weights `layer` (on `stream`).
  absl::Status Run(const DeviceLayer& layer, const DeviceExpertRows& rows, void* stream);

  // Frees the scratch replaced by growth since the last call. Only when no queued kernel can
  // still use it (the stream Run enqueued on is idle).
  void ReleaseRetired() { retired_.clear(); }

 private:
  struct Scratch;
  absl::Status Ensure(int64_t rows, int top_k);

  int64_t hidden_, inter_pad_;
  bool int4_;
  std::shared_ptr<Scratch> scratch_;
  std::vector<std::shared_ptr<Scratch>> retired_;  // replaced, possibly still read by the device
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_CUDA_ROUTED_EXPERTS_H_
