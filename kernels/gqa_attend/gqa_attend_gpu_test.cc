// GPU test (label gpu): the paged GQA attention against the CPU reference on fresh random data,
// at every head_dim the kernel has (16..256), groups of 1, 2, 7 and 12 (two CTAs per kv head),
// decode tokens of very different lengths (split into chunks and combined) and a causal prefill
// chunk; outputs are poisoned first. Bound: rel-L2 ≤ 1e-2 and max |Δ| ≤ 2e-2·max |ref| (bf16
// output, fp32 math in another order).
#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/gqa_attend/gqa_attend.h"
#include "kernels/gqa_attend/gqa_attend_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

struct Case {
  int heads, kv_heads, head_dim;
  std::vector<int32_t> lens;  // per query token
};

void RunCase(const Case& c, int seed) {
  SCOPED_TRACE(::testing::Message() << "heads " << c.heads << " kv " << c.kv_heads << " dim "
                                    << c.head_dim << " tokens " << c.lens.size());
  std::mt19937 rng(seed);
  const int64_t tokens = static_cast<int64_t>(c.lens.size());
  const int64_t max_len = *std::max_element(c.lens.begin(), c.lens.end());
  const int64_t pages_per_seq = (max_len + kGqaPageTokens - 1) / kGqaPageTokens;
  const int64_t pages = pages_per_seq * tokens + 3;
  const int64_t kvw = int64_t{c.kv_heads} * c.head_dim, row = 2 * kvw;
  const auto cache = testing::RandomBf16(pages * kGqaPageTokens * row, rng, 1.0f);
  const auto q = testing::RandomBf16(tokens * c.heads * c.head_dim, rng, 1.0f);
  // Every token's own shuffled pages.
  std::vector<int32_t> ids(pages);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int32_t> table(tokens * pages_per_seq);
  for (size_t i = 0; i < table.size(); ++i) table[i] = ids[i];
  GqaAttendParams p;
  p.q_stride = p.out_stride = int64_t{c.heads} * c.head_dim;
  p.page_stride = kGqaPageTokens * row;
  p.row_stride = row;
  p.num_pages = pages;
  p.block_table_stride = pages_per_seq;
  p.tokens = tokens;
  p.heads = c.heads;
  p.kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  p.max_seq_len = max_len;
  std::vector<uint16_t> want(tokens * p.out_stride);
  GqaAttendParams ref = p;
  ref.q = q.data();
  ref.k_cache = cache.data();
  ref.v_cache = cache.data() + kvw;
  ref.block_table = table.data();
  ref.seq_lens = c.lens.data();
  ref.out = want.data();
  ASSERT_TRUE(GqaAttendReference(ref).ok());

  DeviceBuffer<uint16_t> dq(q), dcache(cache), dout(want.size());
  DeviceBuffer<int32_t> dtable(table), dlens(c.lens);
  dout.Fill(0xff);
  p.q = dq.get();
  p.k_cache = dcache.get();
  p.v_cache = dcache.get() + kvw;
  p.block_table = dtable.get();
  p.seq_lens = dlens.get();
  p.out = dout.get();
  const GqaAttendConfig cfg = GqaAttendConfigFor(p);
  DeviceBuffer<float> ws(std::max<size_t>(cfg.workspace_bytes / 4, 1));
  p.workspace = ws.get();
  p.workspace_bytes = ws.bytes();
  ASSERT_TRUE(LaunchGqaAttend(p, nullptr).ok());
  const auto got = dout.Download();
  const auto s = testing::Compare(testing::Bf16ToFloatVec(got), testing::Bf16ToFloatVec(want));
  EXPECT_FALSE(s.non_finite) << s.ToString();
  EXPECT_LE(s.rel_l2, 1e-2) << s.ToString() << " splits " << cfg.splits;
  EXPECT_LE(s.max_abs, 2e-2 * s.max_ref) << s.ToString() << " splits " << cfg.splits;
}

TEST(GqaAttendGpuTest, DecodeTokensOfMixedLengthsWithSplits) {
  RunCase({28, 4, 128, {1, 700, 2048}}, 1);         // Qwen-7B heads, split into chunks
  RunCase({12, 1, 64, {5, 64, 65, 129, 1000}}, 2);  // group 12: two CTAs per kv head
  RunCase({8, 8, 256, {300, 33}}, 3);
  RunCase({32, 8, 128, {4096}}, 4);  // Llama-8B heads, one long sequence
}

TEST(GqaAttendGpuTest, CausalPrefillChunk) {
  // 70 tokens of one sequence at positions 10..79 (each sees its own prefix), tiny-model dims.
  for (int D : {16, 32}) {
    Case c{4, 2, D, {}};
    for (int t = 0; t < 70; ++t) c.lens.push_back(10 + t + 1);
    RunCase(c, 10 + D);
  }
}

}  // namespace
}  // namespace r1::kernels
