#include "kernels/internal/cuda_status.h"

#include <array>
#include <atomic>

namespace r1::kernels::internal {

int SmCount() {
  static std::array<std::atomic<int>, 64> cache{};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return 132;
  int v = cache[dev].load(std::memory_order_relaxed);
  if (v > 0) return v;
  int n = 0;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) {
    n = 132;
  }
  cache[dev].store(n, std::memory_order_relaxed);
  return n;
}

}  // namespace r1::kernels::internal
