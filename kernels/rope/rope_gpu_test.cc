// GPU test (label gpu): the interleaved YaRN RoPE equals the reference bit for bit, on the query
// layout (128 heads × 192, rope at +128) and the single shared k_rope (576-wide kv rows, +512);
// the rotate-half layout likewise on dense GQA shapes (28 heads × 128, odd head offsets).
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/rope/rope.h"
#include "kernels/rope/rope_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(RopeGpuTest, MatchesReferenceBitExact) {
  const int64_t max_pos = 5000;
  std::vector<float> cs, sn;
  BuildRopeTable(YarnConfig{}, max_pos, &cs, &sn);
  DeviceBuffer<float> dcs(cs), dsn(sn);
  struct Case {
    int64_t tokens, heads, token_stride, head_stride, offset;
  };
  int id = 0;
  for (const Case& c : {Case{37, 128, 128 * 192, 192, 128}, Case{5, 1, 576, 576, 512}}) {
    std::mt19937 rng(++id);
    auto x = testing::RandomBf16(c.tokens * c.token_stride, rng, 2.0f);
    std::vector<int32_t> pos(c.tokens);
    for (auto& q : pos) q = static_cast<int32_t>(rng() % max_pos);
    auto want = x;
    RopeParams p{want.data() + c.offset,
                 c.token_stride,
                 c.head_stride,
                 c.tokens,
                 c.heads,
                 64,
                 pos.data(),
                 cs.data(),
                 sn.data(),
                 max_pos};
    ASSERT_TRUE(RopeReference(p).ok());
    DeviceBuffer<uint16_t> dx(x);
    DeviceBuffer<int32_t> dpos(pos);
    p.x = dx.get() + c.offset;
    p.positions = dpos.get();
    p.cos_table = dcs.get();
    p.sin_table = dsn.get();
    ASSERT_TRUE(LaunchRope(p, nullptr).ok());
    EXPECT_EQ(dx.Download(), want) << "case " << id;
  }
}

TEST(RopeGpuTest, RotateHalfMatchesReferenceBitExact) {
  const int64_t max_pos = 4096;
  for (int dim : {16, 32, 128}) {
    std::vector<float> cs, sn;
    YarnConfig yc;
    yc.dim = dim;
    yc.factor = 1.0;
    BuildRopeTable(yc, max_pos, &cs, &sn);
    DeviceBuffer<float> dcs(cs), dsn(sn);
    std::mt19937 rng(dim);
    const int64_t tokens = 19, heads = 7, token_stride = heads * dim + 2 * dim + 1;
    auto x = testing::RandomBf16(tokens * token_stride, rng, 2.0f);
    std::vector<int32_t> pos(tokens);
    for (auto& q : pos) q = static_cast<int32_t>(rng() % max_pos);
    auto want = x;
    RopeParams p{want.data() + 1, token_stride, dim,       tokens, heads, dim,
                 pos.data(),      cs.data(),    sn.data(), max_pos};
    p.layout = RopeLayout::kRotateHalf;
    ASSERT_TRUE(RopeReference(p).ok());
    DeviceBuffer<uint16_t> dx(x);
    DeviceBuffer<int32_t> dpos(pos);
    p.x = dx.get() + 1;
    p.positions = dpos.get();
    p.cos_table = dcs.get();
    p.sin_table = dsn.get();
    ASSERT_TRUE(LaunchRope(p, nullptr).ok());
    EXPECT_EQ(dx.Download(), want) << "dim " << dim;
  }
}

}  // namespace
}  // namespace r1::kernels
