#include <algorithm>
#include <cstdint>

#include "kernels/fp8_quant/fp8_quant_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"

namespace r1::kernels {
namespace {

using internal::Bf16BitsToFloat;

// One thread per 8 consecutive values (one 16-byte load per input); 16 threads form a group of
// 128 and reduce the amax with shuffles. Grid-stride over all rows·cols/8 chunks; whole warps
// stay in the loop together (the shuffles need every lane), lanes past the end only skip stores.
template <bool kSilu>
__global__ void __launch_bounds__(256)
    Fp8QuantKernel(const uint16_t* __restrict__ x, int64_t x_stride, uint8_t* __restrict__ out,
                   float* __restrict__ scale, int64_t srow, int64_t sgroup, int64_t rows,
                   int64_t cols) {
  const int64_t chunks_per_row = cols / 8;
  const int64_t total = rows * chunks_per_row;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       idx - (threadIdx.x & 31) < total; idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const bool active = idx < total;
    const int64_t i = active ? idx : total - 1;
    const int64_t r = i / chunks_per_row;
    const int64_t c0 = (i % chunks_per_row) * 8;
    const uint16_t* row = x + r * x_stride;
    float v[8];
    const uint4 a = *reinterpret_cast<const uint4*>(row + c0);
    const uint32_t aw[4] = {a.x, a.y, a.z, a.w};
    if constexpr (kSilu) {
      const uint4 b = *reinterpret_cast<const uint4*>(row + cols + c0);
      const uint32_t bw[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float g = Bf16BitsToFloat(static_cast<uint16_t>(aw[j / 2] >> (16 * (j % 2))));
        const float u = Bf16BitsToFloat(static_cast<uint16_t>(bw[j / 2] >> (16 * (j % 2))));
        v[j] = (g / (1.0f + expf(-g))) * u;
      }
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        v[j] = Bf16BitsToFloat(static_cast<uint16_t>(aw[j / 2] >> (16 * (j % 2))));
      }
    }
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(v[j]));
#pragma unroll
    for (int o = 8; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float s = fmaxf(amax, 1e-4f) / 448.0f;
    if (active) {
      uint32_t lo = 0, hi = 0;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        lo |= static_cast<uint32_t>(internal::FloatToE4m3Sat(v[j] / s)) << (8 * j);
        hi |= static_cast<uint32_t>(internal::FloatToE4m3Sat(v[j + 4] / s)) << (8 * j);
      }
      *reinterpret_cast<uint2*>(out + r * cols + c0) = make_uint2(lo, hi);
      if ((threadIdx.x & 15) == 0) scale[r * srow + (c0 / 128) * sgroup] = s;
    }
  }
}

}  // namespace

absl::Status LaunchFp8Quant(const Fp8QuantParams& p, cudaStream_t stream) {
  if (auto st = ValidateFp8Quant(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  if (reinterpret_cast<uintptr_t>(p.x) % 16 != 0 || p.x_stride % 8 != 0 ||
      reinterpret_cast<uintptr_t>(p.out) % 8 != 0) {
    return absl::InvalidArgumentError("fp8_quant: x must be 16-byte aligned, x_stride % 8 == 0");
  }
  const int64_t total = p.rows * (p.cols / 8);
  const int threads = 256;
  const int64_t max_blocks = static_cast<int64_t>(internal::SmCount()) * 16;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, max_blocks);
  if (p.silu_mul) {
    Fp8QuantKernel<true><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        p.x, p.x_stride, p.out, p.scale, p.scale_row_stride, p.scale_group_stride, p.rows, p.cols);
  } else {
    Fp8QuantKernel<false><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        p.x, p.x_stride, p.out, p.scale, p.scale_row_stride, p.scale_group_stride, p.rows, p.cols);
  }
  return internal::LaunchStatus("fp8_quant launch");
}

}  // namespace r1::kernels
