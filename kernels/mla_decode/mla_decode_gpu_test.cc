// GPU test (label gpu): the wgmma MLA decode kernel against the CPU reference — partial pages,
// an exact page, an empty sequence, shuffled page tables, long sequences (online softmax across
// many pages), split-K with the log-sum-exp combine and without workspace (no split), f32 and
// bf16 outputs, separate and concatenated query layouts.
#include <algorithm>
#include <iostream>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/mla_decode/mla_decode.h"
#include "kernels/mla_decode/mla_decode_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

struct Case {
  std::vector<int32_t> lens;
  int64_t heads;
  bool workspace, bf16_out, concat_q;
};

TEST(MlaDecodeGpuTest, MatchesReference) {
  const std::vector<Case> cases = {
      {{1, 64, 200, 0}, 128, true, false, false},
      {{1, 64, 200, 0}, 128, false, true, true},
      {{4096, 1000}, 64, true, false, true},
      {{130, 7, 65, 333, 64, 128, 129, 3000}, 128, true, true, false},
  };
  int id = 0;
  for (const Case& c : cases) {
    std::mt19937 rng(++id);
    const int64_t batch = c.lens.size(), heads = c.heads;
    const int64_t max_len = *std::max_element(c.lens.begin(), c.lens.end());
    const int64_t bt_stride = (max_len + 63) / 64 + 1;
    const int64_t pages = batch * bt_stride + 3;
    std::vector<int32_t> perm(pages);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int32_t> table(batch * bt_stride);
    for (size_t i = 0; i < table.size(); ++i) table[i] = perm[i];
    auto cache = testing::RandomBf16(pages * kMlaPageTokens * kMlaCacheDim, rng);
    const int64_t qs = c.concat_q ? kMlaCacheDim : kMlaLatentDim;
    auto ql = testing::RandomBf16(batch * heads * qs, rng, 0.3f);
    auto qr = testing::RandomBf16(batch * heads * kMlaRopeDim, rng, 0.3f);

    MlaDecodeParams p;
    p.q_latent = ql.data();
    p.q_rope = c.concat_q ? ql.data() + kMlaLatentDim : qr.data();
    p.q_batch_stride = heads * qs;
    p.q_head_stride = qs;
    if (!c.concat_q) {  // separate rope tensor: [B][H][64] — same strides must address it
      qr = testing::RandomBf16(batch * heads * qs, rng, 0.3f);
      p.q_rope = qr.data();
    }
    p.kv_cache = cache.data();
    p.num_pages = pages;
    p.block_table = table.data();
    p.block_table_stride = bt_stride;
    p.seq_lens = c.lens.data();
    std::vector<float> want(batch * heads * kMlaLatentDim);
    p.out = want.data();
    p.batch = batch;
    p.heads = heads;
    p.softmax_scale = 0.13523378f;
    p.max_seq_len = max_len;
    ASSERT_TRUE(MlaDecodeReference(p).ok());

    DeviceBuffer<uint16_t> dql(ql), dqr(qr), dcache(cache), dout16(want.size());
    DeviceBuffer<int32_t> dtable(table), dlens(c.lens);
    DeviceBuffer<float> dout(want.size());
    const auto cfg = ChooseMlaDecodeConfig(batch, heads, max_len, 132);
    DeviceBuffer<uint8_t> work(std::max<size_t>(cfg.workspace_bytes, 16));
    p.q_latent = dql.get();
    p.q_rope = c.concat_q ? dql.get() + kMlaLatentDim : dqr.get();
    p.kv_cache = dcache.get();
    p.block_table = dtable.get();
    p.seq_lens = dlens.get();
    p.out = c.bf16_out ? nullptr : dout.get();
    p.out_bf16 = c.bf16_out ? dout16.get() : nullptr;
    p.workspace = c.workspace ? work.get() : nullptr;
    p.workspace_bytes = c.workspace ? work.size() : 0;
    dout.Fill(0xff);
    dout16.Fill(0xff);
    const absl::Status st = LaunchMlaDecode(p, nullptr);
    ASSERT_TRUE(st.ok()) << st;
    std::vector<float> got;
    if (c.bf16_out) {
      got = testing::Bf16ToFloatVec(dout16.Download());
    } else {
      got = dout.Download();
    }
    const auto e = testing::Compare(got, want);
    std::cout << "mla_decode case " << id << " splits=" << (c.workspace ? cfg.splits : 1) << " "
              << e.ToString() << "\n";
    EXPECT_FALSE(e.non_finite) << "case " << id;
    EXPECT_LT(e.rel_l2, 1e-2) << "case " << id;
    EXPECT_LT(e.max_abs, 3e-2 * e.max_ref + 1e-3) << "case " << id;
  }
}

}  // namespace
}  // namespace r1::kernels
