// GPU test (label gpu): the CUDA FP8 → INT4 conversion equals the CPU reference bit for bit.
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/int4_quant/int4_quant.h"
#include "kernels/int4_quant/int4_quant_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(Int4QuantGpuTest, MatchesReferenceBitExact) {
  for (auto [n, k] : {std::pair<int64_t, int64_t>{300, 384}, {1, 128}, {2048, 7168}}) {
    std::mt19937 rng(static_cast<unsigned>(n + k));
    const int64_t ld = (k / 128 + 3) / 4 * 4;
    auto w = testing::RandomFp8(n * k, rng);
    for (int i = 0; i < 128; ++i) w[i] = 0;  // an all-zero group
    auto bs = testing::RandomFloat(((n + 127) / 128) * ld, rng, 1e-3f, 1e-2f);
    std::vector<uint8_t> want_q(n * k / 2);
    std::vector<uint16_t> want_s(n * k / 128);
    ASSERT_TRUE(
        Int4FromFp8Reference({w.data(), bs.data(), ld, want_q.data(), want_s.data(), n, k}).ok());
    DeviceBuffer<uint8_t> dw(w), dq(want_q.size());
    DeviceBuffer<float> dbs(bs);
    DeviceBuffer<uint16_t> ds(want_s.size());
    dq.Fill(0x5a);
    ds.Fill(0x5a);
    ASSERT_TRUE(
        LaunchInt4FromFp8({dw.get(), dbs.get(), ld, dq.get(), ds.get(), n, k}, nullptr).ok());
    EXPECT_EQ(dq.Download(), want_q) << n << "x" << k;
    EXPECT_EQ(ds.Download(), want_s) << n << "x" << k;
  }
}

}  // namespace
}  // namespace r1::kernels
