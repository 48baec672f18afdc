// Paged KV-cache row write and gather (see kv_write.h), sm_90a: one thread per 16-byte chunk (8
// bf16) of a row, grid-stride over tokens × row_dim/8 chunks. Slots outside [0, num_pages·64) are
// skipped.
#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/kv_write/kv_write_cuda.h"

namespace r1::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;  // grid-stride beyond this

// Copies row i between rows[i] and the cache row of slots[i], one thread per 16-byte chunk;
// kGather reads the cache (KvGather), else writes it (KvWrite). Bad slots are skipped.
template <bool kGather>
__global__ void __launch_bounds__(kThreads)
    KvCopyKernel(const uint16_t* src_rows_or_cache, uint16_t* dst, const int32_t* slots,
                 int64_t rows_stride, int64_t row_dim, int64_t num_pages, int64_t tokens) {
  const int64_t chunks_per_row = row_dim / 8;
  const int64_t total = tokens * chunks_per_row;
  const int64_t num_slots = num_pages * kKvWritePageTokens;
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < total;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = c / chunks_per_row;
    const int64_t k = c % chunks_per_row;
    const int64_t slot = slots[i];
    if (slot < 0 || slot >= num_slots) continue;
    const int64_t row_off = i * rows_stride + k * 8, cache_off = slot * row_dim + k * 8;
    const uint4 v =
        *reinterpret_cast<const uint4*>(src_rows_or_cache + (kGather ? cache_off : row_off));
    *reinterpret_cast<uint4*>(dst + (kGather ? row_off : cache_off)) = v;
  }
}

// The launch of either direction after its own validation.
template <bool kGather>
absl::Status LaunchKvCopy(const uint16_t* src, uint16_t* dst, const int32_t* slots,
                          const uint16_t* rows, const uint16_t* cache, int64_t rows_stride,
                          int64_t row_dim, int64_t num_pages, int64_t tokens, cudaStream_t stream,
                          const char* what) {
  if (tokens == 0) return absl::OkStatus();
  if (row_dim % 8 != 0 || rows_stride % 8 != 0 || reinterpret_cast<uintptr_t>(rows) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(cache) % 16 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": needs row_dim % 8 == 0, rows_stride % 8 == 0 and 16-byte alignment"));
  }
  const int64_t total = tokens * (row_dim / 8);
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks);
  KvCopyKernel<kGather><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      src, dst, slots, rows_stride, row_dim, num_pages, tokens);
  return internal::LaunchStatus(what);
}

}  // namespace

absl::Status LaunchKvGather(const KvGatherParams& p, cudaStream_t stream) {
  if (auto st = ValidateKvGather(p); !st.ok()) return st;
  return LaunchKvCopy<true>(p.cache, p.rows, p.slots, p.rows, p.cache, p.rows_stride, p.row_dim,
                            p.num_pages, p.tokens, stream, "kv_gather");
}

absl::Status LaunchKvWrite(const KvWriteParams& p, cudaStream_t stream) {
  if (auto st = ValidateKvWrite(p); !st.ok()) return st;
  return LaunchKvCopy<false>(p.rows, p.cache, p.slots, p.rows, p.cache, p.rows_stride, p.row_dim,
                             p.num_pages, p.tokens, stream, "kv_write");
}

}  // namespace r1::kernels
