// GPU test (label gpu): the CUDA kernel equals the CPU reference bit for bit on random inputs of
// odd sizes.
#include <cuda_runtime.h>

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/fp8_dequant/fp8_dequant.h"
#include "kernels/fp8_dequant/fp8_dequant_cuda.h"

namespace r1::kernels {
namespace {

template <typename T>
T* DeviceCopy(const std::vector<T>& v) {
  T* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, v.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return d;
}

TEST(Fp8DequantGpuTest, MatchesReferenceBitExact) {
  for (auto [rows, cols] :
       {std::pair<int64_t, int64_t>{576, 7168}, {1, 1}, {129, 255}, {300, 13}}) {
    std::mt19937 rng(static_cast<unsigned>(rows * 31 + cols));
    std::vector<uint8_t> w(rows * cols);
    for (auto& b : w) b = static_cast<uint8_t>(rng() & 0xff) & 0xf7;
    const int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
    std::vector<float> s(sr * sc);
    std::uniform_real_distribution<float> dist(1e-4f, 1e-1f);
    for (auto& x : s) x = dist(rng);
    std::vector<uint16_t> want(rows * cols), got(rows * cols);
    ASSERT_TRUE(Fp8DequantReference({w.data(), s.data(), want.data(), rows, cols}).ok());

    uint8_t* dw = DeviceCopy(w);
    float* ds = DeviceCopy(s);
    uint16_t* dout = nullptr;
    ASSERT_EQ(cudaMalloc(&dout, got.size() * 2), cudaSuccess);
    ASSERT_TRUE(LaunchFp8Dequant({dw, ds, dout, rows, cols}, nullptr).ok());
    ASSERT_EQ(cudaMemcpy(got.data(), dout, got.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got, want) << rows << "x" << cols;
    cudaFree(dw);
    cudaFree(ds);
    cudaFree(dout);
  }
}

}  // namespace
}  // namespace r1::kernels
