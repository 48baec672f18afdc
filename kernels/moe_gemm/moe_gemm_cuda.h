// CUDA launches of the grouped expert GEMMs (see moe_gemm.h). Pointers are device memory; x and
// w must be 16-byte aligned (their rows then are too, since k % 128 == 0).
#ifndef R1_KERNELS_MOE_GEMM_MOE_GEMM_CUDA_H_
#define R1_KERNELS_MOE_GEMM_MOE_GEMM_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/moe_gemm/moe_gemm.h"

namespace r1::kernels {

absl::Status LaunchMoeGemmFp8(const MoeGemmFp8Params& p, cudaStream_t stream);
absl::Status LaunchMoeGemmInt4(const MoeGemmInt4Params& p, cudaStream_t stream);

namespace internal {

// The FP8 weight-streaming kernel behind LaunchMoeGemmFp8, exposed for the dense FP8 GEMM's
// small-M path (kernels/fp8_gemm): `offsets` may be null, meaning one group of rows [0, tokens).
struct StreamGemmFp8Args {
  const uint8_t* x = nullptr;
  const float* x_scale = nullptr;
  int64_t x_scale_ld = 0;
  const uint8_t* w = nullptr;
  const float* w_scale = nullptr;
  int64_t w_scale_ld = 0;
  const int32_t* offsets = nullptr;  // nullable
  uint16_t* out = nullptr;
  int64_t out_ld = 0;  // ≥ n
  int64_t tokens = 0, groups = 1, n = 0, k = 0;
  int splits = 1;              // from ChooseStreamGemmConfig
  float* workspace = nullptr;  // splits·tokens·n floats when splits > 1
};
absl::Status LaunchStreamGemmFp8(const StreamGemmFp8Args& a, cudaStream_t stream);

}  // namespace internal
}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_GEMM_MOE_GEMM_CUDA_H_
