// DeviceArena on a GPU: memory is zero and uploads are in place when Alloc/Upload return, for a
// kernel on any stream (the default stream's fill must not land later).
#include "worker/backend/device_arena.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace r1 {
namespace {

bool HaveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

TEST(DeviceArenaGpuTest, FillIsDoneWhenAllocReturns) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  DeviceArena arena;
  // Large enough that a queued fill takes far longer than the query below.
  constexpr size_t kBytes = size_t{512} << 20;
  auto p = arena.Alloc(kBytes);
  ASSERT_TRUE(p.ok()) << p.status();
  // The default stream holds no queued work: the fill finished before Alloc returned.
  EXPECT_EQ(cudaStreamQuery(nullptr), cudaSuccess);
  // A write on a non-blocking stream right after is not overwritten by the fill.
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(*p, 0x5a, kBytes, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<uint8_t> tail(4096);
  ASSERT_EQ(cudaMemcpy(tail.data(), static_cast<char*>(*p) + kBytes - tail.size(), tail.size(),
                       cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (uint8_t v : tail) ASSERT_EQ(v, 0x5a);
  cudaStreamDestroy(s);
}

TEST(DeviceArenaGpuTest, UploadIsInPlaceWhenItReturns) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  DeviceArena arena;
  std::vector<int32_t> v(size_t{32} << 20);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int32_t>(i * 2654435761u);
  auto p = arena.UploadVector(v);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(cudaStreamQuery(nullptr), cudaSuccess);
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  std::vector<int32_t> back(v.size());
  ASSERT_EQ(cudaMemcpyAsync(back.data(), *p, v.size() * 4, cudaMemcpyDeviceToHost, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(back, v);
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace r1
