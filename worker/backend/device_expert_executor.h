// DeviceExpertExecutor: the seam through which CudaModel runs the routed experts of every MoE
// layer when its worker belongs to an expert-parallel group (DESIGN.md §3, §6). It is injected at
// model construction (CudaModelOptions::expert_executor); without one the model runs every routed
// expert itself (a group of one). The CPU backend's counterpart is ExpertExecutor
// (worker/model/expert_executor.h): the same protocol — counts, dispatch, this rank's experts,
// combine — over host rows.
//
// The executor moves token rows between ranks; the model supplies the expert computation as a
// callback (LocalExpertsFn) that runs this rank's experts on whatever rows arrived, so the
// executor never sees weights and the model never sees the communicator.
#ifndef R1_WORKER_BACKEND_DEVICE_EXPERT_EXECUTOR_H_
#define R1_WORKER_BACKEND_DEVICE_EXPERT_EXECUTOR_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace r1 {

// One MoE layer's tokens on the device after gating. Device pointers, valid for the call.
struct DeviceMoeTokens {
  int64_t tokens = 0;                   // ≥ 0 (0: an empty lockstep step; still exchanges)
  const uint16_t* hidden = nullptr;     // [tokens][hidden] bf16: the FFN input
  const uint8_t* hidden_fp8 = nullptr;  // nullable: [tokens][hidden] e4m3 of `hidden`
  const float* hidden_scale = nullptr;  // with hidden_fp8: group-major [hidden/128][scale_ld]
  int64_t hidden_scale_ld = 0;
  const int32_t* topk_ids = nullptr;    // [tokens][top_k] global expert ids
  const float* topk_weights = nullptr;  // [tokens][top_k]
  int top_k = 0;
  const uint16_t* shared_out = nullptr;  // nullable: [tokens][hidden] bf16, added to `out`
  uint16_t* out = nullptr;               // [tokens][hidden] bf16: shared + Σ routed
};

// Rows this rank's experts must run: out[r] = (add[r] +) Σ_j weights[r][j] ·
// FFN_{ids[r][j]}(x[r]), over the slots whose id is a local expert index in [0, held); other ids
// (−1: an expert on another rank) contribute nothing. Rows without any local slot get `add[r]` or
// zero.
struct DeviceExpertRows {
  int64_t rows = 0;
  // Activations: e4m3 rows with group-major scales [hidden/128][x_scale_ld], or bf16 rows.
  bool fp8 = true;
  const uint8_t* x = nullptr;  // row r at x + r · x_stride bytes
  int64_t x_stride = 0;
  const float* x_scale = nullptr;  // fp8 only
  int64_t x_scale_ld = 0;
  const int32_t* ids = nullptr;    // [rows][top_k] local expert indices or −1
  const float* weights = nullptr;  // [rows][top_k]
  int top_k = 0;
  const uint16_t* add = nullptr;  // nullable [rows][hidden] bf16
  uint16_t* out = nullptr;        // [rows][hidden] bf16
};

// Runs on the model's stream (enqueues; does not synchronise).
using LocalExpertsFn = std::function<absl::Status(int layer, const DeviceExpertRows& rows)>;

class DeviceExpertExecutor {
 public:
  virtual ~DeviceExpertExecutor() = default;
  // Whether rows travel as FP8 (DeviceMoeTokens::hidden_fp8 must then be set) or BF16.
  virtual bool wants_fp8() const = 0;
  // Runs layer `layer`'s routed experts for `tokens` across the group on `stream` (a
  // cudaStream_t); every rank calls it for every MoE layer of every step, in the same order.
  // On return `tokens.out` is written (or will be, in stream order). Any error breaks the
  // group's communicator.
  virtual absl::Status Run(int layer, const DeviceMoeTokens& tokens, const LocalExpertsFn& experts,
                           void* stream) = 0;
  // Waits until the work enqueued so far on `stream` — which may include transfers with peers —
  // has finished, bounded like the executor's collectives (a missing peer fails it instead of
  // hanging). The model calls it before its last host wait of a step. Any error breaks the
  // group's communicator.
  virtual absl::Status Drain(void* stream) = 0;

  // CUDA graphs (decode_graph_plan.h). Called by a model that wants to capture the step it is
  // about to run (`tokens` tokens, on `stream`), before that step's first Run, at most once per
  // step; a step without this call agrees its terms in its first Run. Returns a key > 0 when every
  // Run of this step will only enqueue work on the stream — no host wait, no allocation — so the
  // step may be captured; the key names the step's terms (a graph captured under one key is
  // replayed only under it). 0: this step's exchanges need the host (run it eagerly). May run
  // host collectives with the group (it agrees the step's terms now); any error breaks the
  // group's communicator. The default: never capturable.
  virtual absl::StatusOr<int64_t> BeginGraphStep(int64_t tokens, void* stream) {
    (void)tokens;
    (void)stream;
    return 0;
  }
  // Counts the reallocations of the device buffers Run's work points into: a graph captured at
  // one count must not replay at another.
  virtual uint64_t buffers_generation() const { return 0; }
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_DEVICE_EXPERT_EXECUTOR_H_
