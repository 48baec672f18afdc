// GPU test (label gpu): cuBLASLt BF16 GEMM against the reference: f32 output (router logits,
// 256 × 7168) and bf16 output on a few shapes.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/bf16_gemm/bf16_gemm.h"
#include "kernels/bf16_gemm/bf16_gemm_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/gemm_check.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(Bf16GemmGpuTest, MatchesReference) {
  struct Case {
    int64_t m, n, k;
    bool f32;
  };
  int id = 0;
  for (const Case& c : {Case{1, 256, 7168, true}, Case{37, 256, 7168, true},
                        Case{5, 1000, 7168, false}, Case{128, 512, 512, false}}) {
    std::mt19937 rng(++id);
    auto x = testing::RandomBf16(c.m * c.k, rng);
    auto w = testing::RandomBf16(c.n * c.k, rng, 0.05f);
    std::vector<float> want_f(c.m * c.n);
    std::vector<uint16_t> want_b(c.m * c.n);
    Bf16GemmParams p{x.data(),
                     c.k,
                     w.data(),
                     c.k,
                     c.f32 ? nullptr : want_b.data(),
                     c.f32 ? want_f.data() : nullptr,
                     c.n,
                     c.m,
                     c.n,
                     c.k};
    ASSERT_TRUE(Bf16GemmReference(p).ok());
    DeviceBuffer<uint16_t> dx(x), dw(w), db(want_b.size());
    DeviceBuffer<float> df(want_f.size());
    DeviceBuffer<uint8_t> work(size_t{32} << 20);
    p.x = dx.get();
    p.w = dw.get();
    p.out_bf16 = c.f32 ? nullptr : db.get();
    p.out_f32 = c.f32 ? df.get() : nullptr;
    p.workspace = work.get();
    p.workspace_bytes = work.size();
    const absl::Status st = LaunchBf16Gemm(p, nullptr);
    ASSERT_TRUE(st.ok()) << st;
    if (c.f32) {
      const auto e = testing::Compare(df.Download(), want_f);
      EXPECT_LT(e.rel_l2, 1e-5) << "case " << id << " " << e.ToString();
    } else {
      const auto chk = testing::CheckBf16Close(db.Download(), want_b);
      EXPECT_EQ(chk.bad, 0) << "case " << id << " " << chk.Describe();
    }
  }
}

}  // namespace
}  // namespace r1::kernels
