// GPU test (label gpu): the CUDA quantiser equals the CPU reference on random rows of odd counts
// — bit for bit for plain quantisation; within one e4m3 step (rare, from expf's last bit) for
// the SiLU·mul fusion — in both scale layouts.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/fp8_quant/fp8_quant.h"
#include "kernels/fp8_quant/fp8_quant_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(Fp8QuantGpuTest, MatchesReference) {
  int case_id = 0;
  for (int64_t rows : {1, 3, 37, 300}) {
    for (int64_t cols : {128, 640, 7168}) {
      for (bool silu : {false, true}) {
        for (bool group_major : {false, true}) {
          std::mt19937 rng(++case_id);
          const int64_t stride = cols * (silu ? 2 : 1) + 8;  // padded rows
          auto x = testing::RandomBf16(rows * stride, rng, 2.0f);
          if (rows > 2) {  // an all-zero group and a huge one
            for (int i = 0; i < 128; ++i) x[stride + i] = 0;
            x[2 * stride + 3] = FloatToBf16(3e4f);
          }
          const int64_t groups = cols / 128, ld = rows + 3;
          const size_t nscale = group_major ? groups * ld : rows * groups;
          std::vector<uint8_t> want_q(rows * cols);
          std::vector<float> want_s(nscale, -1.0f);
          Fp8QuantParams p{.x = x.data(),
                           .x_stride = stride,
                           .out = want_q.data(),
                           .scale = want_s.data(),
                           .rows = rows,
                           .cols = cols,
                           .silu_mul = silu};
          if (group_major) {
            SetGroupMajorScales(p, ld);
          } else {
            SetTokenMajorScales(p);
          }
          ASSERT_TRUE(Fp8QuantReference(p).ok());

          DeviceBuffer<uint16_t> dx(x);
          DeviceBuffer<uint8_t> dq(rows * cols);
          DeviceBuffer<float> ds(std::vector<float>(nscale, -1.0f));
          dq.Fill(0x7f);
          p.x = dx.get();
          p.out = dq.get();
          p.scale = ds.get();
          ASSERT_TRUE(LaunchFp8Quant(p, nullptr).ok());
          auto got_q = dq.Download();
          auto got_s = ds.Download();
          int64_t code_diffs = 0;
          for (size_t i = 0; i < got_q.size(); ++i) {
            if (got_q[i] == want_q[i]) continue;
            ++code_diffs;
            ASSERT_TRUE(silu) << "plain quantisation must be bit-exact at " << i;
            const float a = Fp8E4m3ToFloat(got_q[i]), b = Fp8E4m3ToFloat(want_q[i]);
            ASSERT_LE(std::fabs(a - b), std::fabs(b) / 8 + 1e-2f) << i;
          }
          EXPECT_LE(code_diffs, static_cast<int64_t>(got_q.size() / 1000) + 2);
          for (size_t i = 0; i < got_s.size(); ++i) {
            if (silu) {
              ASSERT_NEAR(got_s[i], want_s[i], std::fabs(want_s[i]) * 1e-5f) << i;
            } else {
              ASSERT_EQ(got_s[i], want_s[i]) << i;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace r1::kernels
