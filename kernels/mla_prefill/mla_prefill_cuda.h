// CUDA launch of the naive-form MLA prefill attention (see mla_prefill.h). Pointers are device
// memory; the arguments are checked with ValidateMlaPrefill (InvalidArgument). Every layout the
// header allows is accepted; the fast path is chosen per call:
//   * tensor cores (mma.sync bf16; 128 query tokens per CTA for v_dim <= 128, else 64; 64
//     positions per step; cp.async loads overlapped with the MMAs) when nope_dim % 8 == 0,
//     (nope_dim + rope_dim) % 16 == 0, v_dim % 16 == 0, q, kv and k_rope (if rope_dim > 0) are
//     16-byte aligned and q_token_stride, q_head_stride, kv_token_stride, kv_head_stride and
//     k_rope_stride are multiples of 8 elements. This covers R1 (nope 128, rope 64, v 128) and the
//     small models (e.g. 32/32/32, 16/32/16, 32/64/32). Output stores are bf16x2 when out is 4-byte
//     aligned with even strides, else scalar.
//   * otherwise a generic fp32 kernel (one CTA per (token, head); much slower).
// Both round the output once to bf16; the tensor-core path also rounds the softmax
// probabilities to bf16 before P·V (fp32 accumulation), the generic one keeps them fp32.
#ifndef R1_KERNELS_MLA_PREFILL_MLA_PREFILL_CUDA_H_
#define R1_KERNELS_MLA_PREFILL_MLA_PREFILL_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/mla_prefill/mla_prefill.h"

namespace r1::kernels {

absl::Status LaunchMlaPrefill(const MlaPrefillParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_PREFILL_MLA_PREFILL_CUDA_H_
