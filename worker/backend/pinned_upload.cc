#include "worker/backend/pinned_upload.h"

#include "common/status_macros.h"
#include "kernels/internal/cuda_status.h"

namespace r1 {

using kernels::internal::CudaStatus;

PinnedUpload::~PinnedUpload() {
  if (pending_) cudaEventSynchronize(copied_);
  if (host_ != nullptr) cudaFreeHost(host_);
  if (copied_ != nullptr) cudaEventDestroy(copied_);
}

absl::Status PinnedUpload::WaitPrevious() {
  if (!pending_) return absl::OkStatus();
  pending_ = false;
  return CudaStatus(cudaEventSynchronize(copied_), "pinned upload: previous copy");
}

absl::StatusOr<void*> PinnedUpload::Stage(size_t bytes) {
  RETURN_IF_ERROR(WaitPrevious());
  if (copied_ == nullptr) {
    RETURN_IF_ERROR(CudaStatus(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming),
                               "pinned upload: event"));
  }
  if (bytes > capacity_) {
    if (host_ != nullptr) cudaFreeHost(host_);
    host_ = nullptr;
    capacity_ = 0;
    const size_t grown = bytes + bytes / 2;  // room to grow without reallocating every step
    RETURN_IF_ERROR(CudaStatus(cudaMallocHost(&host_, grown), "pinned upload: buffer"));
    capacity_ = grown;
  }
  return host_;
}

absl::Status PinnedUpload::Upload(void* dst, size_t bytes, cudaStream_t stream) {
  if (bytes > capacity_) return absl::InternalError("pinned upload: more bytes than staged");
  if (bytes == 0) return absl::OkStatus();
  RETURN_IF_ERROR(CudaStatus(cudaMemcpyAsync(dst, host_, bytes, cudaMemcpyHostToDevice, stream),
                             "pinned upload"));
  RETURN_IF_ERROR(CudaStatus(cudaEventRecord(copied_, stream), "pinned upload: event record"));
  pending_ = true;
  return absl::OkStatus();
}

}  // namespace r1
