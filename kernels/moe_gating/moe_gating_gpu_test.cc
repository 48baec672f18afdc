// GPU test (label gpu): fused noaux_tc routing on R1's configuration (256 experts, 8 groups,
// keep 4, top-8, ×2.5) and a small one; same experts in the same order, weights to 1e-5.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_gating/moe_gating.h"
#include "kernels/moe_gating/moe_gating_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(MoeGatingGpuTest, MatchesReference) {
  for (auto [tokens, experts, groups, kg, k] :
       {std::tuple<int64_t, int, int, int, int>{301, 256, 8, 4, 8}, {17, 64, 4, 2, 6}}) {
    std::mt19937 rng(static_cast<unsigned>(tokens));
    auto logits = testing::RandomFloat(tokens * experts, rng, -4.0f, 4.0f);
    auto bias = testing::RandomFloat(experts, rng, -0.1f, 0.1f);
    std::vector<int32_t> want_ids(tokens * k);
    std::vector<float> want_w(tokens * k);
    MoeGatingParams p{
        logits.data(), bias.data(), want_ids.data(), want_w.data(), tokens, experts, groups, kg, k,
        true,          2.5f};
    ASSERT_TRUE(MoeGatingReference(p).ok());
    DeviceBuffer<float> dl(logits), db(bias), dw(want_w.size());
    DeviceBuffer<int32_t> did(want_ids.size());
    p.logits = dl.get();
    p.bias = db.get();
    p.topk_ids = did.get();
    p.topk_weights = dw.get();
    ASSERT_TRUE(LaunchMoeGating(p, nullptr).ok());
    EXPECT_EQ(did.Download(), want_ids);
    const auto got_w = dw.Download();
    for (size_t i = 0; i < got_w.size(); ++i) {
      ASSERT_NEAR(got_w[i], want_w[i], 1e-5f * std::fabs(want_w[i]) + 1e-7f) << i;
    }
    // With a device bound on the valid rows (a padded graph step's fillers): the rows past it
    // route nowhere, as the reference says.
    const int32_t valid = static_cast<int32_t>(tokens - 5);
    MoeGatingParams h = p;
    h.logits = logits.data();
    h.bias = bias.data();
    h.topk_ids = want_ids.data();
    h.topk_weights = want_w.data();
    h.valid_tokens = &valid;
    ASSERT_TRUE(MoeGatingReference(h).ok());
    DeviceBuffer<int32_t> dvalid(std::vector<int32_t>{valid});
    p.valid_tokens = dvalid.get();
    ASSERT_TRUE(LaunchMoeGating(p, nullptr).ok());
    EXPECT_EQ(did.Download(), want_ids);
    const auto bounded_w = dw.Download();  // zeros past the bound
    for (size_t i = 0; i < bounded_w.size(); ++i) {
      ASSERT_NEAR(bounded_w[i], want_w[i], 1e-5f * std::fabs(want_w[i]) + 1e-7f) << i;
    }
  }
}

}  // namespace
}  // namespace r1::kernels
