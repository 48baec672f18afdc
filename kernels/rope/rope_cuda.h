// CUDA launch of the interleaved YaRN RoPE (see rope.h). Pointers are device memory. Positions
// outside [0, max_pos) are clamped on the device (the host must not pass them).
#ifndef R1_KERNELS_ROPE_ROPE_CUDA_H_
#define R1_KERNELS_ROPE_ROPE_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/rope/rope.h"

namespace r1::kernels {

absl::Status LaunchRope(const RopeParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_ROPE_ROPE_CUDA_H_
