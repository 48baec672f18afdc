// CUDA launch of the FP8 activation quantisation (see fp8_quant.h). Pointers are device memory;
// x must be 16-byte aligned with x_stride a multiple of 8 (checked).
#ifndef R1_KERNELS_FP8_QUANT_FP8_QUANT_CUDA_H_
#define R1_KERNELS_FP8_QUANT_FP8_QUANT_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/fp8_quant/fp8_quant.h"

namespace r1::kernels {

absl::Status LaunchFp8Quant(const Fp8QuantParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_FP8_QUANT_FP8_QUANT_CUDA_H_
