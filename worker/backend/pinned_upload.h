// PinnedUpload: one grow-only pinned host buffer through which a stream's small per-step uploads
// travel as a single asynchronous copy (a pageable cudaMemcpyAsync is staged and waited on by
// the driver; a pinned one is a plain DMA the host does not wait for).
//
// Use: Stage(bytes) for the buffer (it waits, bounded by the copy itself, until the previous
// Upload from it has been read), fill it, then Upload(dst, bytes, stream). Owns the buffer and
// one CUDA event. Thread-compatible; the CUDA device current as at the first call.
#ifndef R1_WORKER_BACKEND_PINNED_UPLOAD_H_
#define R1_WORKER_BACKEND_PINNED_UPLOAD_H_

#include <cuda_runtime.h>

#include <cstddef>

#include "absl/status/statusor.h"

namespace r1 {

class PinnedUpload {
 public:
  PinnedUpload() = default;
  ~PinnedUpload();
  PinnedUpload(const PinnedUpload&) = delete;
  PinnedUpload& operator=(const PinnedUpload&) = delete;

  // A host buffer of at least `bytes`, free to write: the previous Upload's copy has completed.
  absl::StatusOr<void*> Stage(size_t bytes);
  // Copies the first `bytes` of the staged buffer to device `dst` on `stream` (asynchronously).
  absl::Status Upload(void* dst, size_t bytes, cudaStream_t stream);

 private:
  absl::Status WaitPrevious();

  void* host_ = nullptr;
  size_t capacity_ = 0;
  cudaEvent_t copied_ = nullptr;
  bool pending_ = false;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_PINNED_UPLOAD_H_
