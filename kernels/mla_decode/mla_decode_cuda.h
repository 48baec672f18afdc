// CUDA launch of the MLA absorbed decode (see mla_decode.h). Pointers are device memory;
// queries, cache and output must be 16-byte aligned, query strides multiples of 8 elements.
// seq_lens and block_table are read on the device: entries must be in range (page ids are
// clamped into [0, num_pages) so a bad table cannot fault, but then the result is meaningless).
#ifndef R1_KERNELS_MLA_DECODE_MLA_DECODE_CUDA_H_
#define R1_KERNELS_MLA_DECODE_MLA_DECODE_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/mla_decode/mla_decode.h"

namespace r1::kernels {

absl::Status LaunchMlaDecode(const MlaDecodeParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_DECODE_MLA_DECODE_CUDA_H_
