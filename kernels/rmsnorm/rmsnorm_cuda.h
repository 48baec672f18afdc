// CUDA launch of RMSNorm (+ residual) (see rmsnorm.h). Pointers are device memory, 16-byte
// aligned, strides multiples of 8, n % 8 == 0 (checked).
#ifndef R1_KERNELS_RMSNORM_RMSNORM_CUDA_H_
#define R1_KERNELS_RMSNORM_RMSNORM_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/rmsnorm/rmsnorm.h"

namespace r1::kernels {

absl::Status LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_RMSNORM_RMSNORM_CUDA_H_
