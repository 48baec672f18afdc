// Timing helpers and the measured device ceilings (DESIGN.md §13) shared by the kernel benches.
#ifndef R1_BENCH_KERNELS_BENCH_UTIL_H_
#define R1_BENCH_KERNELS_BENCH_UTIL_H_

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "absl/status/status.h"

namespace r1::bench {

// Ceilings measured on an H200 (DESIGN.md §13): the denominators of every printed ratio.
inline constexpr double kHbmTBs = 4.21;       // device copy, bytes read + written
inline constexpr double kBf16Tflops = 728.0;  // cuBLAS BF16 GEMM 8192³
inline constexpr double kFp8Tflops = 1347.0;  // cuBLASLt FP8 GEMM 8192³ (tensor-wise scaling)

inline void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

inline void Check(const absl::Status& st, const char* what) {
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(st.message()).c_str());
    std::exit(1);
  }
}

// Median time in microseconds of one call of `fn` (which enqueues work on the default stream):
// `batches` timed batches of `per_batch` calls each after `warmup` calls.
inline double TimeUs(const std::function<void()>& fn, int per_batch = 10, int batches = 15,
                     int warmup = 5) {
  cudaEvent_t a, b;
  Check(cudaEventCreate(&a), "event");
  Check(cudaEventCreate(&b), "event");
  for (int i = 0; i < warmup; ++i) fn();
  Check(cudaDeviceSynchronize(), "warmup");
  std::vector<double> t;
  for (int r = 0; r < batches; ++r) {
    Check(cudaEventRecord(a), "record");
    for (int i = 0; i < per_batch; ++i) fn();
    Check(cudaEventRecord(b), "record");
    Check(cudaEventSynchronize(b), "sync");
    float ms = 0;
    Check(cudaEventElapsedTime(&ms, a, b), "elapsed");
    t.push_back(1e3 * ms / per_batch);
  }
  Check(cudaGetLastError(), "bench launches");
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Fills `n` device elements at `dst` by repeating `pattern` (fast random-looking data for large
// buffers; the values matter only for not being zero or constant).
template <typename T>
void FillTiled(T* dst, size_t n, const std::vector<T>& pattern) {
  for (size_t i = 0; i < n; i += pattern.size()) {
    const size_t c = std::min(pattern.size(), n - i);
    Check(cudaMemcpy(dst + i, pattern.data(), c * sizeof(T), cudaMemcpyHostToDevice), "fill");
  }
}

// Keeps the GPU busy for ~`ms` milliseconds so clocks ramp up before the first measurement.
void WarmUpGpu(int ms = 300);

inline void PrintDevice() {
  cudaDeviceProp prop{};
  Check(cudaGetDeviceProperties(&prop, 0), "props");
  std::printf("# device: %s, %d SMs, %.0f MB L2\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize / 1e6);
}

}  // namespace r1::bench

#endif  // R1_BENCH_KERNELS_BENCH_UTIL_H_
