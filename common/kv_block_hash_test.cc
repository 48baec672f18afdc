#include "common/kv_block_hash.h"

#include <vector>

#include <gtest/gtest.h>

namespace r1 {
namespace {

std::vector<int> Tokens(int n, int seed) {
  std::vector<int> t;
  for (int i = 0; i < n; ++i) t.push_back((seed * 131 + i * 17) % 129280);
  return t;
}

TEST(KvBlockHashTest, HashesOnlyFullBlocksChained) {
  const std::vector<int> t = Tokens(3 * kBlockTokens + 10, 1);
  const std::vector<uint64_t> h = HashKvBlocks(t.data(), t.size());
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0], HashKvBlock(kRootBlockHash, t.data()));
  EXPECT_EQ(h[1], HashKvBlock(h[0], t.data() + kBlockTokens));
  EXPECT_EQ(h[2], HashKvBlock(h[1], t.data() + 2 * kBlockTokens));
  EXPECT_TRUE(HashKvBlocks(t.data(), kBlockTokens - 1).empty());
  EXPECT_EQ(HashKvBlocks(t.data(), kBlockTokens).size(), 1u);
}

TEST(KvBlockHashTest, EqualBlocksAfterDifferentPrefixesDiffer) {
  std::vector<int> a = Tokens(2 * kBlockTokens, 1);
  std::vector<int> b = a;
  b[3] += 1;  // block 0 differs, block 1 is the same
  const auto ha = HashKvBlocks(a.data(), a.size());
  const auto hb = HashKvBlocks(b.data(), b.size());
  EXPECT_NE(ha[0], hb[0]);
  EXPECT_NE(ha[1], hb[1]);
}

// The coordinator and the workers are different processes (and may be different builds): the
// hash is pinned.
TEST(KvBlockHashTest, IsStableAcrossProcesses) {
  const std::vector<int> t = Tokens(kBlockTokens, 7);
  EXPECT_EQ(HashKvBlock(kRootBlockHash, t.data()), 0x921a992e3088346ull);
}

}  // namespace
}  // namespace r1
