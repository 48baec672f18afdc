// RAII device buffer for GPU tests and benches (host code; needs the CUDA runtime).
#ifndef R1_KERNELS_INTERNAL_DEVICE_BUFFER_H_
#define R1_KERNELS_INTERNAL_DEVICE_BUFFER_H_

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace r1::kernels::testing {

inline void CheckCuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error in %s: %s\n", what, cudaGetErrorString(e));
    std::abort();
  }
}

// Owns `n` elements of device memory. Not copyable; movable.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n > 0) CheckCuda(cudaMalloc(&p_, n * sizeof(T)), "cudaMalloc");
  }
  explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size()) { Upload(v); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (p_) cudaFree(p_);
      p_ = o.p_, n_ = o.n_, o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
  }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }

  T* get() const { return p_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

  void Upload(const std::vector<T>& v) {
    CheckCuda(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  std::vector<T> Download() const {
    std::vector<T> v(n_);
    CheckCuda(cudaDeviceSynchronize(), "sync before download");
    CheckCuda(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "download");
    return v;
  }
  // Fills every byte with `byte` (poison before a kernel writes, to catch unwritten outputs).
  void Fill(int byte) { CheckCuda(cudaMemset(p_, byte, bytes()), "memset"); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace r1::kernels::testing

#endif  // R1_KERNELS_INTERNAL_DEVICE_BUFFER_H_
