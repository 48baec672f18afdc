// CUDA launch of SiLU·mul to bf16 (see silu_mul.h). Pointers are device memory, 16-byte
// aligned, strides and n multiples of 8.
#ifndef R1_KERNELS_SILU_MUL_SILU_MUL_CUDA_H_
#define R1_KERNELS_SILU_MUL_SILU_MUL_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/silu_mul/silu_mul.h"

namespace r1::kernels {

absl::Status LaunchSiluMul(const SiluMulParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_SILU_MUL_SILU_MUL_CUDA_H_
