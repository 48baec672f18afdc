// CUDA launch of the embedding lookup (see embedding.h). Pointers are device memory, 16-byte
// aligned; dim and out_stride multiples of 8.
#ifndef R1_KERNELS_EMBEDDING_EMBEDDING_CUDA_H_
#define R1_KERNELS_EMBEDDING_EMBEDDING_CUDA_H_

#include <cuda_runtime.h>

#include "kernels/embedding/embedding.h"

namespace r1::kernels {

absl::Status LaunchEmbedding(const EmbeddingParams& p, cudaStream_t stream);

}  // namespace r1::kernels

#endif  // R1_KERNELS_EMBEDDING_EMBEDDING_CUDA_H_
