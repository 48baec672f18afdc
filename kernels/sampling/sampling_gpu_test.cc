// GPU test (label gpu): sampling equals the CPU reference token for token — greedy, temperature
// only, top-k, top-p (R1's T 0.6 / p 0.95) — on R1's vocabulary, a small vocabulary (fewer than
// 1024 candidates) and logits with many exact ties (the radix select's tie path).
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/sampling/sampling.h"
#include "kernels/sampling/sampling_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(SamplingGpuTest, MatchesReference) {
  for (int64_t vocab : {129280, 1000, 300}) {
    for (bool ties : {false, true}) {
      std::mt19937 rng(static_cast<unsigned>(vocab + ties));
      const int64_t rows = 48;
      auto logits = testing::RandomFloat(rows * vocab, rng, -8.0f, 8.0f);
      if (ties) {
        for (auto& l : logits) l = std::round(l * 2.0f) / 2.0f;  // 33 distinct values
      }
      std::vector<float> temp(rows), top_p(rows);
      std::vector<int32_t> top_k(rows), want(rows), got;
      std::vector<uint64_t> seed(rows), offset(rows);
      for (int64_t r = 0; r < rows; ++r) {
        const int kind = static_cast<int>(r % 4);
        temp[r] = kind == 0 ? 0.0f : kind == 1 ? 1.0f : kind == 2 ? 0.6f : 1.5f;
        top_k[r] = kind == 1 ? 50 : 0;
        top_p[r] = kind == 2 ? 0.95f : 1.0f;
        seed[r] = 1000 + r;
        offset[r] = 7 * r;
      }
      SamplingParams p{logits.data(), vocab,        rows,        vocab,         temp.data(),
                       top_k.data(),  top_p.data(), seed.data(), offset.data(), want.data()};
      ASSERT_TRUE(SamplingReference(p).ok());
      DeviceBuffer<float> dl(logits), dt(temp), dp(top_p);
      DeviceBuffer<int32_t> dk(top_k), dout(rows);
      DeviceBuffer<uint64_t> ds(seed), doff(offset);
      p.logits = dl.get();
      p.temperature = dt.get();
      p.top_k = dk.get();
      p.top_p = dp.get();
      p.seed = ds.get();
      p.offset = doff.get();
      p.out = dout.get();
      ASSERT_TRUE(LaunchSampling(p, nullptr).ok());
      got = dout.Download();
      EXPECT_EQ(got, want) << "vocab " << vocab << " ties " << ties;
    }
  }
}

}  // namespace
}  // namespace r1::kernels
