#include "worker/comm/stream_wait.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "worker/comm/internal/cuda_util.h"

namespace r1 {

absl::Status WaitForStreamWithPeers(void* stream, const Communicator& comm, absl::Time deadline,
                                    absl::string_view what) {
  comm_internal::Poller poller(deadline);
  while (true) {
    const cudaError_t err = cudaStreamQuery(static_cast<cudaStream_t>(stream));
    if (err == cudaSuccess) return absl::OkStatus();
    if (err != cudaErrorNotReady) return comm_internal::CudaStatus(err, what);
    if (absl::Status h = comm.health(); !h.ok()) {
      return absl::Status(h.code(), absl::StrCat(what, ": communicator failed: ", h.message()));
    }
    if (!poller.Next()) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": the stream did not drain in time (a peer missing, slow or gone?)"));
    }
  }
}

}  // namespace r1
