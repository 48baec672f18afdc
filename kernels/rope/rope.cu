#include <algorithm>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/rope/rope_cuda.h"

namespace r1::kernels {
namespace {

// One thread per (token, head, pair). Explicit _rn intrinsics keep the compiler from fusing the
// products into FMAs, so the result equals the reference bit for bit.
__global__ void RopeKernel(const RopeParams p) {
  const int half = p.dim / 2;
  const int64_t total = p.tokens * p.heads * half;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(idx % half);
    const int64_t th = idx / half;
    const int64_t h = th % p.heads, t = th / p.heads;
    const int64_t pos = min(max(static_cast<int64_t>(p.positions[t]), int64_t{0}), p.max_pos - 1);
    const float c = p.cos_table[pos * half + i], s = p.sin_table[pos * half + i];
    if (p.layout == RopeLayout::kRotateHalf) {
      uint16_t* z = p.x + t * p.token_stride + h * p.head_stride + i;
      const float a = internal::Bf16BitsToFloat(z[0]);
      const float b = internal::Bf16BitsToFloat(z[half]);
      z[0] = internal::FloatToBf16Bits(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
      z[half] = internal::FloatToBf16Bits(__fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
      continue;
    }
    uint32_t* z = reinterpret_cast<uint32_t*>(p.x + t * p.token_stride + h * p.head_stride) + i;
    const uint32_t v = *z;
    const float a = internal::Bf16BitsToFloat(static_cast<uint16_t>(v & 0xffff));
    const float b = internal::Bf16BitsToFloat(static_cast<uint16_t>(v >> 16));
    const float r0 = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    const float r1 = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
    *z = internal::PackBf16x2(r0, r1);
  }
}

}  // namespace

absl::Status LaunchRope(const RopeParams& p, cudaStream_t stream) {
  if (auto st = ValidateRope(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (p.layout == RopeLayout::kInterleaved && (reinterpret_cast<uintptr_t>(p.x) % 4 != 0 ||
                                               p.token_stride % 2 != 0 || p.head_stride % 2 != 0)) {
    return absl::InvalidArgumentError("rope: pairs must be 4-byte aligned");
  }
  const int64_t total = p.tokens * p.heads * (p.dim / 2);
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535LL * 8);
  RopeKernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(p);
  return internal::LaunchStatus("rope launch");
}

}  // namespace r1::kernels
