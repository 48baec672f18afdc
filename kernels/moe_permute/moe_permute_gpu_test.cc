// GPU test (label gpu): permute (stable, with dropped ids), row and scale gathers and the combine
// equal the references bit for bit, on R1's routing shape (top-8 of 256) for a decode batch and
// a prefill-sized one.
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/moe_permute/moe_permute.h"
#include "kernels/moe_permute/moe_permute_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(MoePermuteGpuTest, MatchesReference) {
  for (int64_t tokens : {1, 37, 4096}) {
    std::mt19937 rng(static_cast<unsigned>(tokens));
    const int k = 8, experts = 256;
    const int64_t pairs = tokens * k, dim = 7168, groups = dim / 128;
    std::vector<int32_t> ids(pairs);
    for (auto& e : ids) e = static_cast<int32_t>(rng() % (experts + 16)) - 8;  // some out of range
    std::vector<int32_t> off(experts + 1), perm(pairs, -7), inv(pairs);
    MoePermuteParams p{ids.data(), tokens, k, experts, off.data(), perm.data(), inv.data()};
    ASSERT_TRUE(MoePermuteReference(p).ok());
    DeviceBuffer<int32_t> dids(ids), doff(off.size()), dperm(std::vector<int32_t>(pairs, -7)),
        dinv(pairs);
    p.topk_ids = dids.get();
    p.expert_offsets = doff.get();
    p.perm_src = dperm.get();
    p.inv_perm = dinv.get();
    ASSERT_TRUE(LaunchMoePermute(p, nullptr).ok());
    ASSERT_EQ(doff.Download(), off) << tokens;
    ASSERT_EQ(dperm.Download(), perm) << tokens;
    ASSERT_EQ(dinv.Download(), inv) << tokens;
    const int32_t rows = off[experts];

    // fp8 rows (7168 bytes) and group-major scales.
    auto x = testing::RandomFp8(tokens * dim, rng);
    auto xs = testing::RandomFloat(groups * tokens, rng, 0.01f, 1.0f);
    std::vector<uint8_t> want_rows(pairs * dim, 0);
    std::vector<float> want_s(groups * pairs, 0.0f);
    ASSERT_TRUE(MoeGatherRowsReference(
                    {x.data(), dim, want_rows.data(), dim, dim, perm.data(), k, pairs, &rows})
                    .ok());
    ASSERT_TRUE(MoeGatherScalesReference(
                    {xs.data(), tokens, want_s.data(), pairs, groups, perm.data(), k, pairs, &rows})
                    .ok());
    DeviceBuffer<uint8_t> dx(x), drows(std::vector<uint8_t>(pairs * dim, 0));
    DeviceBuffer<float> dxs(xs), ds(std::vector<float>(groups * pairs, 0.0f));
    DeviceBuffer<int32_t> dvalid(std::vector<int32_t>{rows});
    ASSERT_TRUE(
        LaunchMoeGatherRows(
            {dx.get(), dim, drows.get(), dim, dim, dperm.get(), k, pairs, dvalid.get()}, nullptr)
            .ok());
    ASSERT_TRUE(LaunchMoeGatherScales({dxs.get(), tokens, ds.get(), pairs, groups, dperm.get(), k,
                                       pairs, dvalid.get()},
                                      nullptr)
                    .ok());
    EXPECT_EQ(drows.Download(), want_rows) << tokens;
    EXPECT_EQ(ds.Download(), want_s) << tokens;

    // Combine with a shared-expert add.
    auto y = testing::RandomBf16(std::max<int64_t>(rows, 1) * dim, rng);
    auto add = testing::RandomBf16(tokens * dim, rng);
    auto w = testing::RandomFloat(pairs, rng, 0.0f, 1.0f);
    std::vector<uint16_t> want(tokens * dim);
    ASSERT_TRUE(MoeCombineReference(
                    {y.data(), inv.data(), w.data(), add.data(), want.data(), tokens, k, dim})
                    .ok());
    DeviceBuffer<uint16_t> dy(y), dadd(add), dout(want.size());
    DeviceBuffer<float> dw(w);
    ASSERT_TRUE(
        LaunchMoeCombine({dy.get(), dinv.get(), dw.get(), dadd.get(), dout.get(), tokens, k, dim},
                         nullptr)
            .ok());
    EXPECT_EQ(dout.Download(), want) << tokens;
  }
}

}  // namespace
}  // namespace r1::kernels
