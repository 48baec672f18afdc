#include "worker/backend/device_arena.h"

#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"

namespace r1 {

DeviceArena::~DeviceArena() {
  for (void* p : blocks_) cudaFree(p);
}

absl::StatusOr<void*> DeviceArena::Alloc(size_t bytes) {
  void* p = nullptr;
  const size_t n = bytes == 0 ? 256 : bytes;
  cudaError_t e = cudaMalloc(&p, n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return absl::ResourceExhaustedError(
        absl::StrCat("cudaMalloc of ", n, " bytes (", bytes_, " held): ", cudaGetErrorString(e)));
  }
  blocks_.push_back(p);
  bytes_ += n;
  if ((e = cudaMemset(p, 0, n)) != cudaSuccess) {
    return absl::InternalError(absl::StrCat("cudaMemset: ", cudaGetErrorString(e)));
  }
  return p;
}

absl::StatusOr<void*> DeviceArena::Upload(const void* host, size_t bytes) {
  auto p = Alloc(bytes);
  if (!p.ok()) return p.status();
  if (bytes > 0) {
    cudaError_t e = cudaMemcpy(*p, host, bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
      return absl::InternalError(absl::StrCat("cudaMemcpy to device: ", cudaGetErrorString(e)));
    }
  }
  return p;
}

}  // namespace r1
