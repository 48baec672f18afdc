// CUDA launches of the MoE exchange ops (see moe_exchange.h). Pointers are device memory. Pack
// needs 16-byte aligned x and records with x_stride % 16 == 0; unpack 16-byte aligned records;
// combine-scatter dim % 8 == 0 and 16-byte aligned back, add and out (all checked).
#ifndef R1_KERNELS_MOE_EXCHANGE_MOE_EXCHANGE_CUDA_H_
#define R1_KERNELS_MOE_EXCHANGE_MOE_EXCHANGE_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/moe_exchange/moe_exchange.h"

namespace r1::kernels {

absl::Status LaunchMoeDispatchPlan(const MoeDispatchPlanParams& params, cudaStream_t stream);
absl::Status LaunchMoeDispatchPack(const MoeDispatchPackParams& params, cudaStream_t stream);
absl::Status LaunchMoeRecordUnpack(const MoeRecordUnpackParams& params, cudaStream_t stream);
absl::Status LaunchMoeCombineScatter(const MoeCombineScatterParams& params, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_EXCHANGE_MOE_EXCHANGE_CUDA_H_
