// Paged KV-cache row write and gather (see kv_write.h), sm_90a: one thread per 16-byte chunk (8
// bf16) of a row, grid-stride over tokens × row_dim/8 chunks. Slots outside [0, num_pages·64) are
// skipped. The FP8 write runs one warp per token: lane l quantises c_kv values [16l, 16l + 16)
// (group l / 8, amax over the group's 8 lanes by shuffles), lanes 0–7 copy the bf16 k_rope.
#include <algorithm>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
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

__global__ void __launch_bounds__(kThreads) KvWriteFp8Kernel(const KvWriteFp8Params p) {
  const int lane = threadIdx.x % 32;
  const int64_t num_slots = p.num_pages * kKvWritePageTokens;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kThreads / 32);
  for (int64_t i = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32; i < p.tokens;
       i += warps) {
    const int64_t slot = p.slots[i];
    if (slot < 0 || slot >= num_slots) continue;  // the whole warp skips together
    const uint16_t* row = p.rows + i * p.rows_stride;
    uint8_t* dst = p.cache + slot * kMlaFp8RowBytes;
    const uint4 a = *reinterpret_cast<const uint4*>(row + 16 * lane);
    const uint4 b = *reinterpret_cast<const uint4*>(row + 16 * lane + 8);
    const uint32_t w[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    float v[16];
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      v[j] = internal::Bf16BitsToFloat(static_cast<uint16_t>(w[j / 2] >> (16 * (j % 2))));
      amax = fmaxf(amax, fabsf(v[j]));
    }
#pragma unroll
    for (int o = 4; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float s = fmaxf(amax, 1e-4f) / 448.0f;  // kFp8AmaxFloor / kFp8E4m3Max (fp8_quant.h)
    uint32_t q[4] = {0, 0, 0, 0};
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      q[j / 4] |= static_cast<uint32_t>(internal::FloatToE4m3Sat(v[j] / s)) << (8 * (j % 4));
    }
    *reinterpret_cast<uint4*>(dst + 16 * lane) = make_uint4(q[0], q[1], q[2], q[3]);
    if (lane % 8 == 0) *reinterpret_cast<float*>(dst + kMlaFp8ScaleOffset + 4 * (lane / 8)) = s;
    if (lane < 8) {
      *reinterpret_cast<uint4*>(dst + kMlaFp8RopeOffset + 16 * lane) =
          *reinterpret_cast<const uint4*>(row + kMlaLatentDim + 8 * lane);
    }
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

absl::Status LaunchKvWriteFp8(const KvWriteFp8Params& p, cudaStream_t stream) {
  if (auto st = ValidateKvWriteFp8(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (p.rows_stride % 8 != 0 || reinterpret_cast<uintptr_t>(p.rows) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.cache) % 16 != 0) {
    return absl::InvalidArgumentError(
        "kv_write_fp8: needs rows_stride % 8 == 0 and 16-byte alignment");
  }
  const int64_t blocks =
      std::min<int64_t>((p.tokens + kThreads / 32 - 1) / (kThreads / 32), kMaxBlocks);
  KvWriteFp8Kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return internal::LaunchStatus("kv_write_fp8 launch");
}

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
