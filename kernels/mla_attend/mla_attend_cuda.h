// CUDA launch of the general MLA attention (see mla_attend.h). Pointers are device memory.
// seq_lens and block_table are read on the device: page ids are clamped into [0, num_pages) and
// lengths into [0, block_table_stride·64] so a bad table cannot fault (the result is then
// meaningless).
#ifndef R1_KERNELS_MLA_ATTEND_MLA_ATTEND_CUDA_H_
#define R1_KERNELS_MLA_ATTEND_MLA_ATTEND_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/mla_attend/mla_attend.h"

namespace r1::kernels {

absl::Status LaunchMlaAttend(const MlaAttendParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_ATTEND_MLA_ATTEND_CUDA_H_
