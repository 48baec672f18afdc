// CUDA launches of the MoE permute / gather / combine ops (see moe_permute.h). Pointers are
// device memory (valid_rows too).
#ifndef R1_KERNELS_MOE_PERMUTE_MOE_PERMUTE_CUDA_H_
#define R1_KERNELS_MOE_PERMUTE_MOE_PERMUTE_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/moe_permute/moe_permute.h"

namespace r1::kernels {

absl::Status LaunchMoePermute(const MoePermuteParams& p, cudaStream_t stream);
absl::Status LaunchMoeGatherRows(const MoeGatherRowsParams& p, cudaStream_t stream);
absl::Status LaunchMoeGatherScales(const MoeGatherScalesParams& p, cudaStream_t stream);
absl::Status LaunchMoeCombine(const MoeCombineParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_PERMUTE_MOE_PERMUTE_CUDA_H_
