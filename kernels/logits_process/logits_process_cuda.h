// CUDA launch of logit processing (see logits_process.h). Pointers are device memory. One
// kernel on `stream`: no allocation, no host synchronisation (safe inside CUDA-graph capture).
// The array contents are not checked on the device: entries whose id is out of [0, vocab) and
// rows whose offsets decrease or are negative are skipped (the reference rejects them); repeated
// history ids give an unspecified (memory-safe) result.
#ifndef R1_KERNELS_LOGITS_PROCESS_LOGITS_PROCESS_CUDA_H_
#define R1_KERNELS_LOGITS_PROCESS_LOGITS_PROCESS_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/logits_process/logits_process.h"

namespace r1::kernels {

absl::Status LaunchLogitsProcess(const LogitsProcessParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_LOGITS_PROCESS_LOGITS_PROCESS_CUDA_H_
