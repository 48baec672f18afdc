// Paged KV-cache row write and gather (see kv_write.h), sm_90a: one thread per 16-byte chunk (8
// bf16) of a row, grid-stride over tokens × row_dim/8 chunks. Slots outside [0, num_pages·64) are
// skipped.
#include <algorithm>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/kv_write/kv_write_cuda.h"

namespace r1::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;  // grid-stride beyond this

__global__ void __launch_bounds__(kThreads) KvWriteKernel(const KvWriteParams p) {
  const int64_t chunks_per_row = p.row_dim / 8;
  const int64_t total = p.tokens * chunks_per_row;
  const int64_t num_slots = p.num_pages * kKvWritePageTokens;
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < total;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = c / chunks_per_row;
    const int64_t k = c % chunks_per_row;
    const int64_t slot = p.slots[i];
    if (slot < 0 || slot >= num_slots) continue;
    const uint4 v = *reinterpret_cast<const uint4*>(p.rows + i * p.rows_stride + k * 8);
    *reinterpret_cast<uint4*>(p.cache + slot * p.row_dim + k * 8) = v;
  }
}

__global__ void __launch_bounds__(kThreads) KvGatherKernel(const KvGatherParams p) {
  const int64_t chunks_per_row = p.row_dim / 8;
  const int64_t total = p.tokens * chunks_per_row;
  const int64_t num_slots = p.num_pages * kKvWritePageTokens;
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < total;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = c / chunks_per_row;
    const int64_t k = c % chunks_per_row;
    const int64_t slot = p.slots[i];
    if (slot < 0 || slot >= num_slots) continue;
    const uint4 v = *reinterpret_cast<const uint4*>(p.cache + slot * p.row_dim + k * 8);
    *reinterpret_cast<uint4*>(p.rows + i * p.rows_stride + k * 8) = v;
  }
}

}  // namespace

absl::Status LaunchKvGather(const KvGatherParams& p, cudaStream_t stream) {
  if (auto st = ValidateKvGather(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (p.row_dim % 8 != 0 || p.rows_stride % 8 != 0 ||
      reinterpret_cast<uintptr_t>(p.rows) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.cache) % 16 != 0) {
    return absl::InvalidArgumentError(
        "kv_gather: needs row_dim % 8 == 0, rows_stride % 8 == 0 and 16-byte alignment");
  }
  const int64_t total = p.tokens * (p.row_dim / 8);
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks);
  KvGatherKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return internal::LaunchStatus("kv_gather launch");
}

absl::Status LaunchKvWrite(const KvWriteParams& p, cudaStream_t stream) {
  if (auto st = ValidateKvWrite(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (p.row_dim % 8 != 0 || p.rows_stride % 8 != 0 ||
      reinterpret_cast<uintptr_t>(p.rows) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.cache) % 16 != 0) {
    return absl::InvalidArgumentError(
        "kv_write: needs row_dim % 8 == 0, rows_stride % 8 == 0 and 16-byte alignment");
  }
  const int64_t total = p.tokens * (p.row_dim / 8);
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks);
  KvWriteKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return internal::LaunchStatus("kv_write launch");
}

}  // namespace r1::kernels
