// CUDA launch of the fused noaux_tc routing (see moe_gating.h). Pointers are device memory.
#ifndef R1_KERNELS_MOE_GATING_MOE_GATING_CUDA_H_
#define R1_KERNELS_MOE_GATING_MOE_GATING_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/moe_gating/moe_gating.h"

namespace r1::kernels {

absl::Status LaunchMoeGating(const MoeGatingParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_GATING_MOE_GATING_CUDA_H_
