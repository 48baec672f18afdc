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
  // cudaMemset runs on the default stream, which does not order against the non-blocking streams
  // our kernels and communicators use: without the wait, a fill still queued could land after a
  // kernel or a collective on another stream wrote the buffer (it did: garbage answers from an
  // expert-parallel group whose record buffers grew mid-run). Allocation is rare (grow-only).
  if ((e = cudaMemset(p, 0, n)) != cudaSuccess ||
      (e = cudaStreamSynchronize(nullptr)) != cudaSuccess) {
    return absl::InternalError(
        absl::StrCat("zero-filling a new device allocation: ", cudaGetErrorString(e)));
  }
  return p;
}

absl::StatusOr<void*> DeviceArena::Upload(const void* host, size_t bytes) {
  auto p = Alloc(bytes);
  if (!p.ok()) return p.status();
  if (bytes > 0) {
    // From pageable memory cudaMemcpy may return before the DMA lands, and other streams do not
    // wait for the default stream: wait here, so the data is there for any stream.
    cudaError_t e = cudaMemcpy(*p, host, bytes, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaStreamSynchronize(nullptr);
    if (e != cudaSuccess) {
      return absl::InternalError(absl::StrCat("cudaMemcpy to device: ", cudaGetErrorString(e)));
    }
  }
  return p;
}

}  // namespace r1
