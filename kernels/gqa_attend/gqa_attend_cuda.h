// CUDA launch of the paged GQA attention (see gqa_attend.h). Pointers are device memory; the
// caches 16-byte aligned with page_stride and row_stride multiples of 8; head_dim 16, 32, 64,
// 128 or 256; every seq_lens[t] ≤ max_seq_len (positions past it are not read). With more than
// one split (ChooseGqaAttendConfig on this device's SM count) the workspace must hold
// GqaAttendConfig::workspace_bytes.
#ifndef R1_KERNELS_GQA_ATTEND_GQA_ATTEND_CUDA_H_
#define R1_KERNELS_GQA_ATTEND_GQA_ATTEND_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/gqa_attend/gqa_attend.h"

namespace r1::kernels {

absl::Status LaunchGqaAttend(const GqaAttendParams& p, cudaStream_t stream);

// The configuration LaunchGqaAttend uses for `p` on the current device.
GqaAttendConfig GqaAttendConfigFor(const GqaAttendParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_GQA_ATTEND_GQA_ATTEND_CUDA_H_
