// GPU test (label gpu): SiLU·mul against the reference within one bf16 step (expf's last bit).
#include <cstdlib>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/silu_mul/silu_mul.h"
#include "kernels/silu_mul/silu_mul_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(SiluMulGpuTest, MatchesReference) {
  std::mt19937 rng(2);
  const int64_t rows = 33, n = 2048;
  auto x = testing::RandomBf16(rows * 2 * n, rng, 3.0f);
  std::vector<uint16_t> want(rows * n);
  SiluMulParams p{x.data(), 2 * n, want.data(), n, rows, n};
  ASSERT_TRUE(SiluMulReference(p).ok());
  DeviceBuffer<uint16_t> dx(x), dout(want.size());
  p.x = dx.get();
  p.out = dout.get();
  ASSERT_TRUE(LaunchSiluMul(p, nullptr).ok());
  const auto got = dout.Download();
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::abs(static_cast<int>(got[i]) - static_cast<int>(want[i])), 1) << i;
  }
}

}  // namespace
}  // namespace r1::kernels
