// CUDA launch of the paged KV-cache row write (see kv_write.h). Pointers are device memory,
// 16-byte aligned, rows_stride % 8 == 0. Slots are read on the device; slots outside
// [0, num_pages·64) are skipped so a bad slot cannot fault.
#ifndef R1_KERNELS_KV_WRITE_KV_WRITE_CUDA_H_
#define R1_KERNELS_KV_WRITE_KV_WRITE_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/kv_write/kv_write.h"

namespace r1::kernels {

absl::Status LaunchKvWrite(const KvWriteParams& p, cudaStream_t stream);

// FP8 cache rows (KvWriteFp8Params): rows and cache 16-byte aligned, rows_stride % 8 == 0; one
// warp per token. Bit-exact with KvWriteFp8Reference; slots outside [0, num_pages·64) skipped.
absl::Status LaunchKvWriteFp8(const KvWriteFp8Params& p, cudaStream_t stream);

// Same requirements as LaunchKvWrite; slots outside [0, num_pages·64) leave their row untouched.
absl::Status LaunchKvGather(const KvGatherParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_KV_WRITE_KV_WRITE_CUDA_H_
