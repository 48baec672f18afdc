#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/rmsnorm/rmsnorm_cuda.h"

namespace r1::kernels {
namespace {

using internal::Bf16BitsToFloat;
using internal::FloatToBf16Bits;

constexpr int kThreads = 256;
constexpr int kMaxChunksPerThread = 4;  // rows up to 256·4·8 = 8192 values stay in registers

__device__ __forceinline__ void Unpack(const uint4& v, float (&f)[8]) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int j = 0; j < 8; ++j)
    f[j] = Bf16BitsToFloat(static_cast<uint16_t>(w[j / 2] >> (16 * (j % 2))));
}

__device__ __forceinline__ uint4 Pack(const float (&f)[8]) {
  return make_uint4(internal::PackBf16x2(f[0], f[1]), internal::PackBf16x2(f[2], f[3]),
                    internal::PackBf16x2(f[4], f[5]), internal::PackBf16x2(f[6], f[7]));
}

// One CTA per row. Each thread owns up to kMaxChunksPerThread chunks of 8 values (kept in
// registers between the sum-of-squares pass and the scaling pass); longer rows re-read x.
__global__ void __launch_bounds__(kThreads) RmsNormKernel(const RmsNormParams p) {
  __shared__ float warp_sums[kThreads / 32];
  const int64_t r = blockIdx.x;
  const uint16_t* x = p.x + r * p.x_stride;
  uint16_t* res = p.residual ? p.residual + r * p.residual_stride : nullptr;
  const int chunks = static_cast<int>(p.n / 8);
  float h[kMaxChunksPerThread][8];
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxChunksPerThread; ++i) {
    const int c = threadIdx.x + i * kThreads;
    if (c >= chunks) break;
    Unpack(*reinterpret_cast<const uint4*>(x + c * 8), h[i]);
    if (res) {
      float rv[8];
      Unpack(*reinterpret_cast<const uint4*>(res + c * 8), rv);
#pragma unroll
      for (int j = 0; j < 8; ++j) h[i][j] = Bf16BitsToFloat(FloatToBf16Bits(h[i][j] + rv[j]));
      *reinterpret_cast<uint4*>(res + c * 8) = Pack(h[i]);
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += h[i][j] * h[i][j];
  }
  for (int c = threadIdx.x + kMaxChunksPerThread * kThreads; c < chunks; c += kThreads) {
    float v[8];
    Unpack(*reinterpret_cast<const uint4*>(x + c * 8), v);
    if (res) {
      float rv[8];
      Unpack(*reinterpret_cast<const uint4*>(res + c * 8), rv);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = Bf16BitsToFloat(FloatToBf16Bits(v[j] + rv[j]));
      *reinterpret_cast<uint4*>(res + c * 8) = Pack(v);
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
  }
  ss = internal::WarpSum(ss);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = ss;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  const float inv = 1.0f / sqrtf(total / static_cast<float>(p.n) + p.eps);
  uint16_t* out = p.out + r * p.out_stride;
#pragma unroll
  for (int i = 0; i < kMaxChunksPerThread; ++i) {
    const int c = threadIdx.x + i * kThreads;
    if (c >= chunks) break;
    float g[8], y[8];
    Unpack(*reinterpret_cast<const uint4*>(p.weight + c * 8), g);
#pragma unroll
    for (int j = 0; j < 8; ++j) y[j] = g[j] * (h[i][j] * inv);
    *reinterpret_cast<uint4*>(out + c * 8) = Pack(y);
  }
  for (int c = threadIdx.x + kMaxChunksPerThread * kThreads; c < chunks; c += kThreads) {
    // Long rows: the residual (if any) already holds the rounded sum; re-read it (or x).
    float v[8], g[8], y[8];
    Unpack(*reinterpret_cast<const uint4*>((res ? res : x) + c * 8), v);
    Unpack(*reinterpret_cast<const uint4*>(p.weight + c * 8), g);
#pragma unroll
    for (int j = 0; j < 8; ++j) y[j] = g[j] * (v[j] * inv);
    *reinterpret_cast<uint4*>(out + c * 8) = Pack(y);
  }
}

}  // namespace

absl::Status LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  if (auto st = ValidateRmsNorm(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  auto a16 = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  if (p.n % 8 != 0 || p.x_stride % 8 != 0 || p.out_stride % 8 != 0 ||
      (p.residual && (p.residual_stride % 8 != 0 || !a16(p.residual))) || !a16(p.x) ||
      !a16(p.out) || !a16(p.weight)) {
    return absl::InvalidArgumentError(
        "rmsnorm: needs n % 8 == 0, strides % 8 == 0, 16-byte alignment");
  }
  if (p.rows > 0x7fffffff) return absl::InvalidArgumentError("rmsnorm: too many rows");
  RmsNormKernel<<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(p);
  return internal::LaunchStatus("rmsnorm launch");
}

}  // namespace r1::kernels
