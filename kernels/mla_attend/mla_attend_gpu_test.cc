// GPU test (label gpu): the general MLA attention kernel against the CPU reference on random
// inputs — several latent/rope widths and head counts (R1's 512 + 64, the tiny models' widths,
// no rope, the largest allowed), lengths 0, 1, 63, 64, 65, 200 and long ones (online softmax over
// many pages), shuffled page tables with unused entries set to -1, concatenated and separate
// query layouts, padded output strides (the padding must stay untouched); then a bad table that
// must not fault, and the launch's argument checks.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/mla_attend/mla_attend.h"
#include "kernels/mla_attend/mla_attend_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

constexpr uint16_t kPoison = 0xffff;  // a bf16 NaN

struct Case {
  int64_t latent, rope, heads;
  std::vector<int32_t> lens;
  bool concat_q;    // q_rope = q_latent + latent in one [B][H][latent + rope] tensor
  int64_t out_pad;  // extra elements per head and per entry in the output
};

TEST(MlaAttendGpuTest, MatchesReference) {
  const std::vector<int32_t> lens = {0, 1, 63, 64, 65, 200};
  std::vector<int32_t> long_lens = lens;
  long_lens.push_back(1000);
  const std::vector<Case> cases = {
      {128, 32, 4, lens, true, 0},       {160, 32, 6, lens, false, 8},
      {512, 64, 16, long_lens, true, 0}, {512, 64, 16, lens, false, 16},
      {64, 0, 1, lens, false, 0},        {1024, 256, 2, {1, 65, 300}, true, 8},
  };
  int id = 0;
  for (const Case& c : cases) {
    std::mt19937 rng(++id);
    const int64_t batch = c.lens.size(), heads = c.heads, latent = c.latent, rope = c.rope;
    const int64_t row_dim = latent + rope;
    const int64_t max_len = *std::max_element(c.lens.begin(), c.lens.end());
    const int64_t bt_stride = (max_len + 63) / 64 + 1;
    const int64_t pages = batch * bt_stride + 3;
    std::vector<int32_t> perm(pages);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int32_t> table(batch * bt_stride, -1);  // unused entries are never read
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t blk = 0; blk * 64 < c.lens[b]; ++blk) {
        table[b * bt_stride + blk] = perm[b * bt_stride + blk];
      }
    }
    auto cache = testing::RandomBf16(pages * kMlaAttendPageTokens * row_dim, rng);
    const int64_t qs = c.concat_q ? row_dim : std::max(latent, rope) + 8;
    const int64_t qb = heads * qs + (c.concat_q ? 0 : 8);
    auto ql = testing::RandomBf16(batch * qb, rng, 0.3f);
    auto qr = testing::RandomBf16(c.concat_q ? 1 : batch * qb, rng, 0.3f);
    const int64_t oh = latent + c.out_pad, ob = heads * oh + c.out_pad;

    MlaAttendParams p;
    p.q_latent = ql.data();
    p.q_rope = c.concat_q ? ql.data() + latent : qr.data();
    p.q_batch_stride = qb;
    p.q_head_stride = qs;
    p.kv_cache = cache.data();
    p.num_pages = pages;
    p.block_table = table.data();
    p.block_table_stride = bt_stride;
    p.seq_lens = c.lens.data();
    std::vector<uint16_t> want(batch * ob, kPoison);
    p.out = want.data();
    p.out_batch_stride = ob;
    p.out_head_stride = oh;
    p.batch = batch;
    p.heads = heads;
    p.latent_dim = latent;
    p.rope_dim = rope;
    // Scores with a standard deviation of about 1.5: peaked but not one-hot softmax.
    p.softmax_scale = 5.0f / std::sqrt(static_cast<float>(row_dim));
    ASSERT_TRUE(MlaAttendReference(p).ok()) << "case " << id;

    DeviceBuffer<uint16_t> dql(ql), dqr(qr), dcache(cache), dout(want.size());
    DeviceBuffer<int32_t> dtable(table), dlens(c.lens);
    dout.Fill(0xff);  // kPoison everywhere
    p.q_latent = dql.get();
    p.q_rope = c.concat_q ? dql.get() + latent : dqr.get();
    p.kv_cache = dcache.get();
    p.block_table = dtable.get();
    p.seq_lens = dlens.get();
    p.out = dout.get();
    const absl::Status st = LaunchMlaAttend(p, nullptr);
    ASSERT_TRUE(st.ok()) << st;
    const std::vector<uint16_t> got16 = dout.Download();

    // Compared entry by entry, so that the long entries (small, averaged outputs) are not
    // hidden behind the short ones.
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<float> got, ref;
      int64_t padding_changed = 0, empty_nonzero = 0;
      for (int64_t i = 0; i < ob; ++i) {
        const int64_t h = i / oh, d = i % oh;
        const uint16_t g = got16[b * ob + i];
        if (h >= heads || d >= latent) {
          padding_changed += g != kPoison;
          continue;
        }
        if (c.lens[b] == 0) empty_nonzero += g != 0;
        got.push_back(Bf16ToFloat(g));
        ref.push_back(Bf16ToFloat(want[b * ob + i]));
      }
      const auto e = testing::Compare(got, ref);
      std::cout << "mla_attend case " << id << " latent=" << latent << " rope=" << rope
                << " heads=" << heads << " len=" << c.lens[b] << " " << e.ToString() << "\n";
      const std::string where = "case " + std::to_string(id) + " len " + std::to_string(c.lens[b]);
      EXPECT_EQ(padding_changed, 0) << where;
      EXPECT_EQ(empty_nonzero, 0) << where;
      EXPECT_FALSE(e.non_finite) << where;
      EXPECT_LT(e.rel_l2, 1e-2) << where;
      // fp32 throughout, one bf16 rounding at the end: a few bf16 steps of the largest value.
      EXPECT_LT(e.max_abs, 1e-2 * e.max_ref + 1e-3) << where;
    }
  }
}

TEST(MlaAttendGpuTest, BadTableDoesNotFault) {
  // Page ids and lengths far out of range are clamped on the device: the result is meaningless
  // but the launch completes without a memory error.
  std::mt19937 rng(7);
  const int64_t latent = 64, rope = 16, pages = 2, bt_stride = 2;
  auto cache = testing::RandomBf16(pages * kMlaAttendPageTokens * (latent + rope), rng);
  auto q = testing::RandomBf16(3 * (latent + rope), rng);
  const std::vector<int32_t> table = {1 << 30, -5, 0, 1, -1, 7}, lens = {1 << 30, -3, 100};
  DeviceBuffer<uint16_t> dq(q), dcache(cache), dout(3 * latent);
  DeviceBuffer<int32_t> dtable(table), dlens(lens);
  MlaAttendParams p;
  p.q_latent = dq.get();
  p.q_rope = dq.get() + latent;
  p.q_batch_stride = p.q_head_stride = latent + rope;
  p.kv_cache = dcache.get();
  p.num_pages = pages;
  p.block_table = dtable.get();
  p.block_table_stride = bt_stride;
  p.seq_lens = dlens.get();
  p.out = dout.get();
  p.out_batch_stride = p.out_head_stride = latent;
  p.batch = 3;
  p.heads = 1;
  p.latent_dim = latent;
  p.rope_dim = rope;
  p.softmax_scale = 0.1f;
  ASSERT_TRUE(LaunchMlaAttend(p, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto out = dout.Download();
  for (int64_t i = latent; i < 2 * latent; ++i) EXPECT_EQ(out[i], 0) << i;  // length −3 → 0
}

TEST(MlaAttendGpuTest, LaunchValidates) {
  DeviceBuffer<uint16_t> buf(4096);
  DeviceBuffer<int32_t> ints(std::vector<int32_t>{0, 1});
  MlaAttendParams p;
  p.q_latent = p.q_rope = buf.get();
  p.q_batch_stride = p.q_head_stride = 64;
  p.kv_cache = buf.get();
  p.num_pages = 1;
  p.block_table = ints.get();
  p.block_table_stride = 1;
  p.seq_lens = ints.get() + 1;
  p.out = buf.get() + 2048;
  p.out_batch_stride = p.out_head_stride = 16;
  p.batch = 1;
  p.heads = 1;
  p.latent_dim = 12;  // not a multiple of 8
  p.rope_dim = 4;
  p.softmax_scale = 1.0f;
  EXPECT_EQ(LaunchMlaAttend(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.latent_dim = 16;
  EXPECT_TRUE(LaunchMlaAttend(p, nullptr).ok());
  p.batch = 0;  // nothing to do
  EXPECT_TRUE(LaunchMlaAttend(p, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace r1::kernels
