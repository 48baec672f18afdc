#include "worker/backend/decode_graphs.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "kernels/internal/cuda_status.h"

namespace r1 {

using kernels::internal::CudaStatus;

DecodeGraphs::DecodeGraphs(int capacity)
    : table_(capacity, [](DecodeGraphTable::Handle h) {
        cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(h));
      }) {}

absl::Status DecodeGraphs::Run(const DecodeGraphKey& key,
                               const std::function<uint64_t()>& generation, cudaStream_t stream,
                               const std::function<absl::Status()>& enqueue,
                               DecodeGraphAction* action) {
  DecodeGraphTable::Handle graph = nullptr;
  *action = table_.Lookup(key, generation(), &graph);
  if (*action == DecodeGraphAction::kReplay) {
    return CudaStatus(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), stream),
                      "decode graph launch");
  }
  if (*action == DecodeGraphAction::kCapture) {
    absl::Status st = CudaStatus(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
                                 "decode graph: begin capture");
    cudaGraph_t g = nullptr;
    if (st.ok()) {
      st = enqueue();
      // Always end the capture, whatever enqueue returned, so the stream leaves capture mode.
      const absl::Status end =
          CudaStatus(cudaStreamEndCapture(stream, &g), "decode graph: end capture");
      if (st.ok()) st = end;
    }
    cudaGraphExec_t exec = nullptr;
    if (st.ok()) {
      st = CudaStatus(cudaGraphInstantiate(&exec, g, 0), "decode graph: instantiate");
    }
    if (g != nullptr) cudaGraphDestroy(g);
    if (st.ok()) {
      table_.Captured(key, generation(), exec);
      return CudaStatus(cudaGraphLaunch(exec, stream), "decode graph launch");
    }
    // Nothing captured ran: the step runs eagerly below, and this shape from now on.
    (void)cudaGetLastError();  // a failed capture leaves its error sticky for the next check
    table_.Failed(key);
    log::Warn({}, "decode step of {} tokens not captured as a CUDA graph, runs eagerly: {}",
              key.tokens, st.message());
    *action = DecodeGraphAction::kEager;
  }
  absl::Status st = enqueue();
  if (st.ok()) table_.Warmed(key, generation());
  return st;
}

}  // namespace r1
