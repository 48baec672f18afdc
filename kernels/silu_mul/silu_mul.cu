#include <algorithm>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/silu_mul/silu_mul_cuda.h"

namespace r1::kernels {
namespace {

__global__ void SiluMulKernel(const SiluMulParams p) {
  const int64_t chunks = p.n / 8, total = p.rows * chunks;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / chunks, c = (idx % chunks) * 8;
    const uint16_t* x = p.x + r * p.x_stride;
    const uint4 g = *reinterpret_cast<const uint4*>(x + c);
    const uint4 u = *reinterpret_cast<const uint4*>(x + p.n + c);
    const uint32_t gw[4] = {g.x, g.y, g.z, g.w}, uw[4] = {u.x, u.y, u.z, u.w};
    uint32_t ow[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float v[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float gv = internal::Bf16BitsToFloat(static_cast<uint16_t>(gw[j] >> (16 * h)));
        const float uv = internal::Bf16BitsToFloat(static_cast<uint16_t>(uw[j] >> (16 * h)));
        v[h] = (gv / (1.0f + expf(-gv))) * uv;
      }
      ow[j] = internal::PackBf16x2(v[0], v[1]);
    }
    *reinterpret_cast<uint4*>(p.out + r * p.out_stride + c) =
        make_uint4(ow[0], ow[1], ow[2], ow[3]);
  }
}

}  // namespace

absl::Status LaunchSiluMul(const SiluMulParams& p, cudaStream_t stream) {
  if (auto st = ValidateSiluMul(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  if (p.n % 8 != 0 || p.x_stride % 8 != 0 || p.out_stride % 8 != 0 ||
      reinterpret_cast<uintptr_t>(p.x) % 16 != 0 || reinterpret_cast<uintptr_t>(p.out) % 16 != 0) {
    return absl::InvalidArgumentError("silu_mul: needs n, strides % 8 == 0 and 16-byte alignment");
  }
  const int64_t total = p.rows * (p.n / 8);
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, int64_t{internal::SmCount()} * 16);
  SiluMulKernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  return internal::LaunchStatus("silu_mul launch");
}

}  // namespace r1::kernels
