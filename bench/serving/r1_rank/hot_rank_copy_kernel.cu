#include "bench/serving/r1_rank/hot_rank_copy_kernel.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace r1 {
namespace {

struct HotRankCopyArgs {
  const char* src;
  char* dst;
  int peers;
  HotRankCopy copies[kHotRankMaxPeers];
};

// blockIdx.y: the peer; the blocks along x stride over its bytes (16 at a time when aligned).
__global__ void HotRankCopyKernel(const __grid_constant__ HotRankCopyArgs a) {
  const HotRankCopy c = a.copies[blockIdx.y];
  char* dst = a.dst + c.dst_offset;
  const int64_t start = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const bool vec = reinterpret_cast<uintptr_t>(a.src) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(dst) % 16 == 0 && c.copy_bytes % 16 == 0;
  if (vec) {
    const auto* s = reinterpret_cast<const uint4*>(a.src);
    auto* d = reinterpret_cast<uint4*>(dst);
    for (int64_t i = start; i < c.copy_bytes / 16; i += stride) d[i] = s[i];
  } else {
    for (int64_t i = start; i < c.copy_bytes; i += stride) dst[i] = a.src[i];
  }
  char* zero = dst + c.copy_bytes;
  for (int64_t i = start; i < c.zero_bytes; i += stride) zero[i] = 0;
}

}  // namespace

absl::Status LaunchHotRankCopies(const char* src, char* dst, const std::vector<HotRankCopy>& copies,
                                 cudaStream_t stream) {
  if (copies.size() > static_cast<size_t>(kHotRankMaxPeers)) {
    return absl::InvalidArgumentError(
        absl::StrCat("hot-rank mirror: ", copies.size(), " peers, at most ", kHotRankMaxPeers));
  }
  HotRankCopyArgs a{};
  a.src = src;
  a.dst = dst;
  a.peers = static_cast<int>(copies.size());
  int64_t largest = 0;
  for (size_t p = 0; p < copies.size(); ++p) {
    a.copies[p] = copies[p];
    largest = std::max(largest, copies[p].copy_bytes + copies[p].zero_bytes);
  }
  if (largest == 0) return absl::OkStatus();
  if (dst == nullptr || (src == nullptr && copies[0].copy_bytes > 0)) {
    return absl::InvalidArgumentError("hot-rank mirror: null buffer");
  }
  constexpr int kThreads = 256;
  const int64_t per_block = kThreads * 16;
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((largest + per_block - 1) / per_block, 64));
  HotRankCopyKernel<<<dim3(blocks, a.peers), kThreads, 0, stream>>>(a);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    return absl::InternalError(absl::StrCat("hot-rank mirror copy: ", cudaGetErrorString(err)));
  }
  return absl::OkStatus();
}

}  // namespace r1
