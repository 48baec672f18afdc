#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "absl/strings/str_cat.h"
#include "kernels/fp8_dequant/fp8_dequant_cuda.h"

namespace r1::kernels {
namespace {

// One thread per 8 consecutive elements of a row (one 8-byte load); rows of any width.
__global__ void Fp8DequantKernel(const uint8_t* __restrict__ w, const float* __restrict__ s,
                                 __nv_bfloat16* __restrict__ out, int64_t rows, int64_t cols,
                                 int64_t scale_cols) {
  const int64_t chunks_per_row = (cols + 7) / 8;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * chunks_per_row) return;
  const int64_t row = idx / chunks_per_row;
  const int64_t col0 = (idx % chunks_per_row) * 8;
  const float scale = s[(row / 128) * scale_cols + col0 / 128];
  for (int k = 0; k < 8 && col0 + k < cols; ++k) {
    __nv_fp8_e4m3 q;
    q.__x = w[row * cols + col0 + k];
    out[row * cols + col0 + k] = __float2bfloat16_rn(static_cast<float>(q) * scale);
  }
}

}  // namespace

absl::Status LaunchFp8Dequant(const Fp8DequantParams& p, cudaStream_t stream) {
  if (auto st = ValidateFp8Dequant(p); !st.ok()) return st;
  const int64_t chunks = p.rows * ((p.cols + 7) / 8);
  const int threads = 256;
  const int64_t blocks = (chunks + threads - 1) / threads;
  Fp8DequantKernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      p.weight, p.scale, reinterpret_cast<__nv_bfloat16*>(p.out), p.rows, p.cols,
      (p.cols + 127) / 128);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    return absl::InternalError(absl::StrCat("fp8_dequant launch: ", cudaGetErrorString(err)));
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
