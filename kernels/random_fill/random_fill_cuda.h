// CUDA launch of the random fill (see random_fill.h). `out` is device memory of any alignment (the
// store width follows from the alignment of `out`, cols and ld: 16 bytes when all allow it).
// Asynchronous on `stream`; allocates nothing.
#ifndef R1_KERNELS_RANDOM_FILL_RANDOM_FILL_CUDA_H_
#define R1_KERNELS_RANDOM_FILL_RANDOM_FILL_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/random_fill/random_fill.h"

namespace r1::kernels {

absl::Status LaunchRandomFill(const RandomFillParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_RANDOM_FILL_RANDOM_FILL_CUDA_H_
