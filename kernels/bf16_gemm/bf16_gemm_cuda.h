// CUDA launch of the BF16 GEMM (cuBLASLt; see bf16_gemm.h). Pointers are device memory, 16-byte
// aligned, leading dimensions multiples of 8.
#ifndef R1_KERNELS_BF16_GEMM_BF16_GEMM_CUDA_H_
#define R1_KERNELS_BF16_GEMM_BF16_GEMM_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/bf16_gemm/bf16_gemm.h"

namespace r1::kernels {

absl::Status LaunchBf16Gemm(const Bf16GemmParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_BF16_GEMM_BF16_GEMM_CUDA_H_
