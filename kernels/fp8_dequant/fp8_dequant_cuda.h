// CUDA launch of the FP8 block dequantisation (see fp8_dequant.h). Pointers are device memory.
#ifndef R1_KERNELS_FP8_DEQUANT_FP8_DEQUANT_CUDA_H_
#define R1_KERNELS_FP8_DEQUANT_FP8_DEQUANT_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/fp8_dequant/fp8_dequant.h"

namespace r1::kernels {

absl::Status LaunchFp8Dequant(const Fp8DequantParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_FP8_DEQUANT_FP8_DEQUANT_CUDA_H_
