// Embedding lookup (spec §4): out[t] = table[ids[t]] (bf16 rows, no scaling). An id outside
// [0, vocab) yields a zero row in both implementations (the scheduler validates ids before they
// reach the device; this only keeps a bad id from reading out of bounds).
#ifndef R1_KERNELS_EMBEDDING_EMBEDDING_H_
#define R1_KERNELS_EMBEDDING_EMBEDDING_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct EmbeddingParams {
  const int32_t* ids = nullptr;     // [tokens]; not null
  const uint16_t* table = nullptr;  // [vocab][dim] bf16; not null
  uint16_t* out = nullptr;          // [tokens][out_stride] bf16; not null
  int64_t out_stride = 0;           // ≥ dim
  int64_t tokens = 0;               // ≥ 0
  int64_t vocab = 0;                // > 0
  int64_t dim = 0;                  // > 0 (the CUDA kernel needs dim % 8 == 0)
};

absl::Status ValidateEmbedding(const EmbeddingParams& p);
absl::Status EmbeddingReference(const EmbeddingParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_EMBEDDING_EMBEDDING_H_
