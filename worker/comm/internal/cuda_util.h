// Small CUDA helpers shared by the device-buffer communicators (NcclCommunicator,
// HostStagedCommunicator): error conversion, a scoped current device, pointer classification and
// a bounded poller for waiting on a stream without blocking in the driver. Host code only.
#ifndef R1_WORKER_COMM_INTERNAL_CUDA_UTIL_H_
#define R1_WORKER_COMM_INTERNAL_CUDA_UTIL_H_

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace r1::comm_internal {

// Internal("<what>: <cudaGetErrorName>: <cudaGetErrorString>") unless `err` is cudaSuccess.
absl::Status CudaStatus(cudaError_t err, absl::string_view what);

// Makes `device` current for this thread while in scope and restores the previous one.
class ScopedDevice {
 public:
  explicit ScopedDevice(int device);
  ~ScopedDevice();
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_ = -1;
  int device_ = -1;
};

// Where a buffer lives, as far as a communicator cares.
enum class BufferKind {
  kDevice,  // device memory of the communicator's device (or managed memory)
  kHost,    // host memory, pageable or pinned
};

// Classifies `ptr` (a buffer of `bytes` bytes; anything when bytes == 0) for a communicator on
// `device`. InvalidArgument for device memory of another device.
absl::StatusOr<BufferKind> ClassifyBuffer(const void* ptr, int64_t bytes, int device,
                                          absl::string_view what);

// Paces a polling loop that must end by a deadline: yields for the first `spin`, then sleeps for
// short intervals. Next() returns false once the deadline has passed.
class Poller {
 public:
  explicit Poller(absl::Time deadline, absl::Duration spin = absl::Milliseconds(2));
  bool Next();

 private:
  const absl::Time deadline_;
  const absl::Time spin_until_;
};

// Polls `stream` until its work has finished. Returns DeadlineExceeded at `deadline` and the CUDA
// error if the stream failed. `stop`, polled too (nullable), ends the wait early with Aborted.
absl::Status WaitForStream(cudaStream_t stream, absl::Time deadline, const std::atomic<bool>* stop,
                           absl::string_view what);

}  // namespace r1::comm_internal

#endif  // R1_WORKER_COMM_INTERNAL_CUDA_UTIL_H_
