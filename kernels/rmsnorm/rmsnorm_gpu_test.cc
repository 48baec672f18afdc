// GPU test (label gpu): RMSNorm (+ residual) against the reference — within one bf16 step (the
// sum of squares is reduced in a different order), the residual sum bit-exact — on R1's widths,
// strided rows (kv_a_layernorm: 512 of 576) and a row longer than the register-resident path.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/rmsnorm/rmsnorm.h"
#include "kernels/rmsnorm/rmsnorm_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(RmsNormGpuTest, MatchesReference) {
  struct Case {
    int64_t rows, n, stride;
    bool residual;
  };
  int id = 0;
  for (const Case& c :
       {Case{1, 7168, 7168, true}, Case{37, 7168, 7168, false}, Case{77, 512, 576, false},
        Case{5, 1536, 1536, true}, Case{3, 16384, 16400, true}}) {
    std::mt19937 rng(++id);
    auto x = testing::RandomBf16(c.rows * c.stride, rng, 3.0f);
    auto res = testing::RandomBf16(c.rows * c.stride, rng, 3.0f);
    auto w = testing::RandomBf16(c.n, rng, 1.0f);
    std::vector<uint16_t> want(c.rows * c.n), want_res = res;
    RmsNormParams p{x.data(), c.stride, c.residual ? want_res.data() : nullptr,
                    c.stride, w.data(), want.data(),
                    c.n,      c.rows,   c.n,
                    1e-6f};
    ASSERT_TRUE(RmsNormReference(p).ok());
    DeviceBuffer<uint16_t> dx(x), dres(res), dw(w), dout(want.size());
    dout.Fill(0xff);
    p.x = dx.get();
    p.residual = c.residual ? dres.get() : nullptr;
    p.weight = dw.get();
    p.out = dout.get();
    ASSERT_TRUE(LaunchRmsNorm(p, nullptr).ok());
    const auto got = dout.Download();
    int64_t off_by_one = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] == want[i]) continue;
      ASSERT_LE(std::abs(static_cast<int>(got[i]) - static_cast<int>(want[i])), 1)
          << "case " << id << " i=" << i;
      ++off_by_one;
    }
    EXPECT_LE(off_by_one, static_cast<int64_t>(got.size() / 100) + 1) << "case " << id;
    if (c.residual) {
      EXPECT_EQ(dres.Download(), want_res) << "case " << id;
    }
  }
}

}  // namespace
}  // namespace r1::kernels
