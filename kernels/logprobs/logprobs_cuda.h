// CUDA launch of logprobs (see logprobs.h). Pointers are device memory. One kernel on `stream`:
// no allocation, no host synchronisation (safe inside CUDA-graph capture). A chosen id out of
// [0, vocab) is not checked on the host (the ids are device memory): its logprob is NaN.
#ifndef R1_KERNELS_LOGPROBS_LOGPROBS_CUDA_H_
#define R1_KERNELS_LOGPROBS_LOGPROBS_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/logprobs/logprobs.h"

namespace r1::kernels {

absl::Status LaunchLogprobs(const LogprobsParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_LOGPROBS_LOGPROBS_CUDA_H_
