#include <cuda_runtime.h>

#include <chrono>

#include "bench/kernels/bench_util.h"
#include "kernels/internal/device_buffer.h"

namespace r1::bench {

void WarmUpGpu(int ms) {
  kernels::testing::DeviceBuffer<uint8_t> a(size_t{256} << 20), b(size_t{256} << 20);
  a.Fill(1);
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(ms)) {
    for (int i = 0; i < 10; ++i)
      Check(cudaMemcpy(b.get(), a.get(), a.bytes(), cudaMemcpyDeviceToDevice), "warm");
    Check(cudaDeviceSynchronize(), "warm sync");
  }
}

}  // namespace r1::bench
