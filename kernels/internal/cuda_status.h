// CUDA error → absl::Status helpers shared by every kernel launcher (host code only).
#ifndef R1_KERNELS_INTERNAL_CUDA_STATUS_H_
#define R1_KERNELS_INTERNAL_CUDA_STATUS_H_

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace r1::kernels::internal {

inline absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(err)));
}

// Status of the most recent launch on this thread (clears the sticky-free error state).
inline absl::Status LaunchStatus(const char* what) { return CudaStatus(cudaGetLastError(), what); }

// Multiprocessor count of the current device (cached per device id, thread-safe).
int SmCount();

}  // namespace r1::kernels::internal

#define R1_CUDA_RETURN_IF_ERROR(expr, what)                                             \
  do {                                                                                  \
    ::absl::Status r1_cuda_status_ = ::r1::kernels::internal::CudaStatus((expr), what); \
    if (!r1_cuda_status_.ok()) return r1_cuda_status_;                                  \
  } while (false)

#endif  // R1_KERNELS_INTERNAL_CUDA_STATUS_H_
