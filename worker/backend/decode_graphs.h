// DecodeGraphs: the CUDA side of decode_graph_plan.h — runs a qualifying step's kernels eagerly,
// captures them from the model's stream into a CUDA graph, or replays the graph, as its
// DecodeGraphTable says.
//
// Capture uses cudaStreamCaptureModeThreadLocal: a call that would synchronise or allocate during
// the capture (which the eager warm-up of the same shape should have made unnecessary) fails the
// capture instead of being baked in. A failed capture executes nothing, so the step then runs
// eagerly, its key stays eager from then on, and the reason is logged once per key.
//
// Owns its graphs. Thread-compatible: the model's one forward at a time, with its device current.
#ifndef R1_WORKER_BACKEND_DECODE_GRAPHS_H_
#define R1_WORKER_BACKEND_DECODE_GRAPHS_H_

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "worker/backend/decode_graph_plan.h"

namespace r1 {

class DecodeGraphs {
 public:
  explicit DecodeGraphs(int capacity = 32);

  // Runs the step `key` names: `enqueue` enqueues its kernels on `stream` (and is not called on a
  // replay); `generation` counts the reallocations of every buffer they use. `*action` tells what
  // happened (kCapture: captured and replayed; kEager also after a failed capture).
  absl::Status Run(const DecodeGraphKey& key, const std::function<uint64_t()>& generation,
                   cudaStream_t stream, const std::function<absl::Status()>& enqueue,
                   DecodeGraphAction* action);

  // Destroys every graph (e.g. before the buffers they point into are freed).
  void Clear() { table_.Clear(); }
  const DecodeGraphTable& table() const { return table_; }

 private:
  DecodeGraphTable table_;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_DECODE_GRAPHS_H_
