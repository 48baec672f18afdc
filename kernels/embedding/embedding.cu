#include <cstdint>

#include "kernels/embedding/embedding_cuda.h"
#include "kernels/internal/cuda_status.h"

namespace r1::kernels {
namespace {

// One CTA per token; 16-byte copies.
__global__ void EmbeddingKernel(const EmbeddingParams p) {
  const int64_t t = blockIdx.x;
  const int64_t id = p.ids[t];
  const bool valid = id >= 0 && id < p.vocab;
  const uint4* src = reinterpret_cast<const uint4*>(p.table + (valid ? id : 0) * p.dim);
  uint4* dst = reinterpret_cast<uint4*>(p.out + t * p.out_stride);
  for (int64_t c = threadIdx.x; c < p.dim / 8; c += blockDim.x) {
    dst[c] = valid ? src[c] : make_uint4(0, 0, 0, 0);
  }
}

}  // namespace

absl::Status LaunchEmbedding(const EmbeddingParams& p, cudaStream_t stream) {
  if (auto st = ValidateEmbedding(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (p.dim % 8 != 0 || p.out_stride % 8 != 0 || reinterpret_cast<uintptr_t>(p.table) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.out) % 16 != 0) {
    return absl::InvalidArgumentError("embedding: needs dim % 8 == 0 and 16-byte alignment");
  }
  if (p.tokens > 0x7fffffff) return absl::InvalidArgumentError("embedding: too many tokens");
  EmbeddingKernel<<<static_cast<unsigned>(p.tokens), 128, 0, stream>>>(p);
  return internal::LaunchStatus("embedding launch");
}

}  // namespace r1::kernels
