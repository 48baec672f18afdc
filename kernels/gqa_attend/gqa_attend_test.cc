// CPU reference test (runs everywhere): the paged GQA attention against a double-precision
// formula on shuffled pages (group 3, a causal prefill chunk after cached positions), its
// validation, and the pure split choice.
#include "kernels/gqa_attend/gqa_attend.h"

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

TEST(GqaAttendTest, MatchesDoubleFormulaOverShuffledPages) {
  std::mt19937 rng(7);
  const int heads = 6, kv_heads = 2, D = 16, group = heads / kv_heads;
  const int64_t pages = 5, row = 2 * kv_heads * D;  // rows [K ; V] as the dense models hold them
  const auto cache = testing::RandomBf16(pages * kGqaPageTokens * row, rng);
  const std::vector<int32_t> table = {3, 0, 4};  // positions 0..191 of one sequence
  const int64_t tokens = 4, start = 130;         // a prefill chunk at positions 130..133
  const auto q = testing::RandomBf16(tokens * heads * D, rng);
  std::vector<int32_t> bt, lens;
  for (int64_t t = 0; t < tokens; ++t) {
    bt.insert(bt.end(), table.begin(), table.end());
    lens.push_back(static_cast<int32_t>(start + t + 1));
  }
  std::vector<uint16_t> out(tokens * heads * D, 0xffff);
  GqaAttendParams p;
  p.q = q.data();
  p.q_stride = heads * D;
  p.k_cache = cache.data();
  p.v_cache = cache.data() + kv_heads * D;
  p.page_stride = kGqaPageTokens * row;
  p.row_stride = row;
  p.num_pages = pages;
  p.block_table = bt.data();
  p.block_table_stride = 3;
  p.seq_lens = lens.data();
  p.out = out.data();
  p.out_stride = heads * D;
  p.tokens = tokens;
  p.heads = heads;
  p.kv_heads = kv_heads;
  p.head_dim = D;
  p.softmax_scale = 0.25f;
  p.max_seq_len = start + tokens;
  ASSERT_TRUE(GqaAttendReference(p).ok());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int h = 0; h < heads; ++h) {
      const int g = h / group;
      std::vector<double> w(lens[t]);
      double mx = -1e300, sum = 0;
      for (int64_t s = 0; s < lens[t]; ++s) {
        const int64_t base = (table[s / 64] * kGqaPageTokens + s % 64) * row;
        double dot = 0;
        for (int j = 0; j < D; ++j) {
          dot += Bf16ToFloat(q[(t * heads + h) * D + j]) * Bf16ToFloat(cache[base + g * D + j]);
        }
        w[s] = dot * 0.25;
        mx = std::max(mx, w[s]);
      }
      for (double& x : w) sum += (x = std::exp(x - mx));
      for (int j = 0; j < D; ++j) {
        double o = 0;
        for (int64_t s = 0; s < lens[t]; ++s) {
          const int64_t base = (table[s / 64] * kGqaPageTokens + s % 64) * row;
          o += w[s] / sum * Bf16ToFloat(cache[base + kv_heads * D + g * D + j]);
        }
        EXPECT_NEAR(Bf16ToFloat(out[(t * heads + h) * D + j]), o, 1e-2 * std::fabs(o) + 1e-3)
            << t << " " << h << " " << j;
      }
    }
  }
  // A page id outside the cache and a length beyond the table are refused.
  bt[1] = 5;
  EXPECT_FALSE(GqaAttendReference(p).ok());
  bt[1] = 0;
  lens[0] = 3 * 64 + 1;
  EXPECT_FALSE(GqaAttendReference(p).ok());
}

TEST(GqaAttendTest, ValidatesShapes) {
  GqaAttendParams p;
  p.heads = 6;
  p.kv_heads = 4;  // not a divisor
  p.head_dim = 16;
  p.num_pages = 1;
  p.q_stride = p.out_stride = 96;
  p.row_stride = 128;
  p.page_stride = 64 * 128;
  p.block_table_stride = 1;
  EXPECT_FALSE(ValidateGqaAttend(p).ok());
  p.kv_heads = 2;
  EXPECT_TRUE(ValidateGqaAttend(p).ok());
  p.row_stride = 16;  // < kv_heads · head_dim
  EXPECT_FALSE(ValidateGqaAttend(p).ok());
}

TEST(GqaAttendTest, SplitsOnlyWhenTheBatchLeavesTheGpuIdle) {
  // Decode batch 1 of Qwen-7B shapes (28 heads, 4 kv heads) at 2K: 4 CTAs alone, so split.
  GqaAttendConfig c = ChooseGqaAttendConfig(1, 28, 4, 128, 2048, 132);
  EXPECT_GT(c.splits, 1);
  EXPECT_GE(c.chunk * c.splits, 2048);
  EXPECT_EQ(c.chunk % 128, 0);
  EXPECT_GE(c.chunk, 256);
  EXPECT_EQ(c.workspace_bytes, size_t{1} * 28 * c.splits * 129 * 4);
  // Batch 64: 256 CTAs already fill 132 SMs.
  c = ChooseGqaAttendConfig(64, 28, 4, 128, 2048, 132);
  EXPECT_EQ(c.splits, 1);
  EXPECT_EQ(c.workspace_bytes, 0u);
  // Short sequences never split below 256 positions per chunk.
  c = ChooseGqaAttendConfig(1, 4, 2, 16, 200, 132);
  EXPECT_EQ(c.splits, 1);
  EXPECT_GE(c.chunk, 200);
}

}  // namespace
}  // namespace r1::kernels
