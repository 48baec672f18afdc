// CUDA launch of the FP8 → INT4 weight conversion (see int4_quant.h). Pointers are device memory.
#ifndef R1_KERNELS_INT4_QUANT_INT4_QUANT_CUDA_H_
#define R1_KERNELS_INT4_QUANT_INT4_QUANT_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/int4_quant/int4_quant.h"

namespace r1::kernels {

absl::Status LaunchInt4FromFp8(const Int4FromFp8Params& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_INT4_QUANT_INT4_QUANT_CUDA_H_
