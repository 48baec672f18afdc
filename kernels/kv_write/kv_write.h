// Writes new latent-cache rows into the paged KV cache (spec §6.7):
//
//   cache[slots[i] / 64][slots[i] % 64][:] = rows[i][:]          for i < tokens
//
// `rows` holds, per token, the row_dim values [c_kv (kv_lora_rank, after kv_a_layernorm) ;
// k_rope (roped)] in bf16; slots[i] = page·64 + position % 64 is where token i's position lives.
// Slots of one call are distinct. A negative slot skips the row (padding tokens).
//
// KvWriteFp8 is the write into R1's FP8 latent cache (mla_decode.h's kMlaFp8RowBytes layout,
// FlashMLA's FP8 MLA cache): each 576-wide bf16 row is quantised by QuantizeMlaFp8Row (per-128
// e4m3 groups with f32 scales, k_rope kept in bf16) into the 656-byte row of its slot.
//
// KvGather is the inverse, for attention forms that read a sequence's rows contiguously (the
// naive MLA prefill): rows[i][:] = cache[slots[i] / 64][slots[i] % 64][:]; negative slots leave
// row i untouched.
#ifndef R1_KERNELS_KV_WRITE_KV_WRITE_H_
#define R1_KERNELS_KV_WRITE_KV_WRITE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/mla_decode/mla_decode.h"

namespace r1::kernels {

inline constexpr int64_t kKvWritePageTokens = 64;

struct KvWriteParams {
  const uint16_t* rows = nullptr;  // bf16, row i at rows + i·rows_stride; not null when tokens > 0
  int64_t rows_stride = 0;         // elements, ≥ row_dim
  const int32_t* slots = nullptr;  // [tokens]; not null when tokens > 0
  uint16_t* cache = nullptr;       // [num_pages][64][row_dim] bf16; not null
  int64_t num_pages = 0;           // > 0
  int64_t row_dim = 0;             // > 0 (the CUDA kernel needs row_dim % 8 == 0)
  int64_t tokens = 0;              // ≥ 0
};

absl::Status ValidateKvWrite(const KvWriteParams& p);

// CPU reference; pointers are host memory. Slots ≥ num_pages·64 are InvalidArgument.
absl::Status KvWriteReference(const KvWriteParams& p);

struct KvWriteFp8Params {
  // bf16, row i = [c_kv (512) ; k_rope (64)] at rows + i·rows_stride; not null when tokens > 0.
  const uint16_t* rows = nullptr;
  int64_t rows_stride = 0;         // elements, ≥ kMlaCacheDim (576)
  const int32_t* slots = nullptr;  // [tokens]; not null when tokens > 0
  uint8_t* cache = nullptr;        // [num_pages][64][kMlaFp8RowBytes (656)] bytes; not null
  int64_t num_pages = 0;           // > 0
  int64_t tokens = 0;              // ≥ 0
};

absl::Status ValidateKvWriteFp8(const KvWriteFp8Params& p);

// CPU reference; pointers are host memory. Slots ≥ num_pages·64 are InvalidArgument.
absl::Status KvWriteFp8Reference(const KvWriteFp8Params& p);

struct KvGatherParams {
  const uint16_t* cache = nullptr;  // [num_pages][64][row_dim] bf16; not null
  int64_t num_pages = 0;            // > 0
  int64_t row_dim = 0;              // > 0 (the CUDA kernel needs row_dim % 8 == 0)
  const int32_t* slots = nullptr;   // [tokens]; not null when tokens > 0
  uint16_t* rows = nullptr;  // bf16, row i at rows + i·rows_stride; not null when tokens > 0
  int64_t rows_stride = 0;   // elements, ≥ row_dim
  int64_t tokens = 0;        // ≥ 0
};

absl::Status ValidateKvGather(const KvGatherParams& p);

// CPU reference; pointers are host memory. Slots ≥ num_pages·64 are InvalidArgument.
absl::Status KvGatherReference(const KvGatherParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_KV_WRITE_KV_WRITE_H_
