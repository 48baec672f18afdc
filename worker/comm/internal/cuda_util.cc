#include "worker/comm/internal/cuda_util.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace r1::comm_internal {

absl::Status CudaStatus(cudaError_t err, absl::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, ": ", cudaGetErrorName(err), ": ", cudaGetErrorString(err)));
}

ScopedDevice::ScopedDevice(int device) : device_(device) {
  if (cudaGetDevice(&previous_) != cudaSuccess) {
    (void)cudaGetLastError();
    previous_ = -1;
  }
  if (previous_ != device_) (void)cudaSetDevice(device_);
}

ScopedDevice::~ScopedDevice() {
  if (previous_ >= 0 && previous_ != device_) (void)cudaSetDevice(previous_);
}

absl::StatusOr<BufferKind> ClassifyBuffer(const void* ptr, int64_t bytes, int device,
                                          absl::string_view what) {
  if (bytes == 0 || ptr == nullptr) return BufferKind::kDevice;  // nothing is read or written
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    // CUDA < 11 reported plain host memory as an error; clear it and treat the buffer as host.
    (void)cudaGetLastError();
    return BufferKind::kHost;
  }
  switch (attr.type) {
    case cudaMemoryTypeDevice:
      if (attr.device != device) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": buffer is memory of device ",
                                                       attr.device, ", the communicator uses ",
                                                       device));
      }
      return BufferKind::kDevice;
    case cudaMemoryTypeManaged:
      return BufferKind::kDevice;
    case cudaMemoryTypeHost:
    case cudaMemoryTypeUnregistered:
    default:
      return BufferKind::kHost;
  }
}

Poller::Poller(absl::Time deadline, absl::Duration spin)
    : deadline_(deadline), spin_until_(absl::Now() + spin) {}

bool Poller::Next() {
  const absl::Time now = absl::Now();
  if (now >= deadline_) return false;
  if (now < spin_until_) {
    std::this_thread::yield();
  } else {
    absl::SleepFor(std::min(absl::Microseconds(50), deadline_ - now));
  }
  return true;
}

absl::Status WaitForStream(cudaStream_t stream, absl::Time deadline, const std::atomic<bool>* stop,
                           absl::string_view what) {
  Poller poller(deadline);
  while (true) {
    const cudaError_t err = cudaStreamQuery(stream);
    if (err == cudaSuccess) return absl::OkStatus();
    if (err != cudaErrorNotReady) return CudaStatus(err, what);
    if (stop != nullptr && stop->load()) {
      return absl::AbortedError(absl::StrCat(what, ": aborted"));
    }
    if (!poller.Next()) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
    }
  }
}

}  // namespace r1::comm_internal
