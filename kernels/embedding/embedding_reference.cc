#include <cstring>

#include "kernels/embedding/embedding.h"

namespace r1::kernels {

absl::Status ValidateEmbedding(const EmbeddingParams& p) {
  if (p.tokens < 0 || p.vocab <= 0 || p.dim <= 0 || p.out_stride < p.dim) {
    return absl::InvalidArgumentError("embedding: bad shape");
  }
  if (p.tokens > 0 && (p.ids == nullptr || p.table == nullptr || p.out == nullptr)) {
    return absl::InvalidArgumentError("embedding: null pointer");
  }
  return absl::OkStatus();
}

absl::Status EmbeddingReference(const EmbeddingParams& p) {
  if (auto st = ValidateEmbedding(p); !st.ok()) return st;
  for (int64_t t = 0; t < p.tokens; ++t) {
    const int64_t id = p.ids[t];
    uint16_t* out = p.out + t * p.out_stride;
    if (id < 0 || id >= p.vocab) {
      std::memset(out, 0, p.dim * sizeof(uint16_t));
    } else {
      std::memcpy(out, p.table + id * p.dim, p.dim * sizeof(uint16_t));
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
