// CUDA launch of token sampling (see sampling.h). Pointers are device memory.
#ifndef R1_KERNELS_SAMPLING_SAMPLING_CUDA_H_
#define R1_KERNELS_SAMPLING_SAMPLING_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/sampling/sampling.h"

namespace r1::kernels {

absl::Status LaunchSampling(const SamplingParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_SAMPLING_SAMPLING_CUDA_H_
