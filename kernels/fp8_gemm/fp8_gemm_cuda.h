// CUDA launch of the dense FP8 block-scaled GEMM (see fp8_gemm.h). Pointers are device memory.
#ifndef R1_KERNELS_FP8_GEMM_FP8_GEMM_CUDA_H_
#define R1_KERNELS_FP8_GEMM_FP8_GEMM_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/fp8_gemm/fp8_gemm.h"

namespace r1::kernels {

// Runs the GEMM on `stream`. `used` (nullable) reports the backend that ran.
absl::Status LaunchFp8Gemm(const Fp8GemmParams& p, cudaStream_t stream,
                           Fp8GemmBackend* used = nullptr);

// Start-up tuning: when the cuBLASLt backend applies to `p`, times cuBLASLt's candidate
// algorithms for this shape and keeps the fastest for later launches (process-wide, per device).
// Synchronises `stream` and overwrites p.out. A no-op for the streaming backend.
absl::Status AutotuneFp8Gemm(const Fp8GemmParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_FP8_GEMM_FP8_GEMM_CUDA_H_
