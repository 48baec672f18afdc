#include <cuda_fp8.h>

#include <cstdint>

#include "kernels/int4_quant/int4_quant_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"

namespace r1::kernels {
namespace {

// One warp per (row, group of 128): each lane dequantises 4 consecutive values; the warp reduces
// the amax; lanes pair up so that each even lane writes one packed 32-bit word (8 values).
__global__ void Int4FromFp8Kernel(const uint8_t* __restrict__ w, const float* __restrict__ ws,
                                  int64_t ws_ld, uint8_t* __restrict__ out,
                                  uint16_t* __restrict__ out_scale, int64_t n, int64_t k) {
  const int lane = threadIdx.x & 31;
  const int64_t groups = k / 128;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (item >= n * groups) return;
  const int64_t row = item / groups, g = item % groups;
  const float bs = ws[(row / 128) * ws_ld + g];
  const uint32_t raw = *reinterpret_cast<const uint32_t*>(w + row * k + g * 128 + lane * 4);
  float v[4];
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    __nv_fp8_e4m3 q;
    q.__x = static_cast<__nv_fp8_storage_t>((raw >> (8 * j)) & 0xff);
    v[j] = static_cast<float>(q) * bs;
    amax = fmaxf(amax, fabsf(v[j]));
  }
  amax = internal::WarpMax(amax);
  const uint16_t sb = internal::FloatToBf16Bits(amax / 7.0f);
  const float s = internal::Bf16BitsToFloat(sb);
  int q[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    q[j] = s != 0.0f ? static_cast<int>(fminf(fmaxf(rintf(v[j] / s), -8.0f), 7.0f)) : 0;
  }
  // Lane pair (2i, 2i+1) holds values 0..3 and 4..7 of word i; gather them on the even lane.
  int p[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) p[j] = __shfl_down_sync(0xffffffffu, q[j], 1);
  if ((lane & 1) == 0) {
    const int vals[8] = {q[0], q[1], q[2], q[3], p[0], p[1], p[2], p[3]};
    uint32_t word = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int nib = (j % 2 == 0) ? j / 2 : 4 + j / 2;
      word |= static_cast<uint32_t>((vals[j] + 8) & 0xf) << (4 * nib);
    }
    *reinterpret_cast<uint32_t*>(out + row * (k / 2) + g * 64 + (lane / 2) * 4) = word;
  }
  if (lane == 0) out_scale[g * n + row] = sb;
}

}  // namespace

absl::Status LaunchInt4FromFp8(const Int4FromFp8Params& p, cudaStream_t stream) {
  if (auto st = ValidateInt4FromFp8(p); !st.ok()) return st;
  if (reinterpret_cast<uintptr_t>(p.w) % 4 != 0 || reinterpret_cast<uintptr_t>(p.out) % 4 != 0) {
    return absl::InvalidArgumentError("int4_from_fp8: w and out must be 4-byte aligned");
  }
  const int64_t items = p.n * (p.k / 128);
  const int warps_per_block = 8;
  const int64_t blocks = (items + warps_per_block - 1) / warps_per_block;
  Int4FromFp8Kernel<<<static_cast<unsigned>(blocks), warps_per_block * 32, 0, stream>>>(
      p.w, p.w_scale, p.w_scale_ld, p.out, p.out_scale, p.n, p.k);
  return internal::LaunchStatus("int4_from_fp8 launch");
}

}  // namespace r1::kernels
