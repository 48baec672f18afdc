#include "worker/kv_cache/kv_cache.h"

#include <numeric>

#include <gtest/gtest.h>

#include "common/kv_block_hash.h"
#include "common/numeric.h"

namespace r1 {
namespace {

TEST(KvCacheTest, ReserveWriteReadRelease) {
  PagedKvCache cache(2, 4, 8, false);
  KvSequence a, b;
  ASSERT_TRUE(cache.Reserve(&a, 65).ok());  // two blocks
  EXPECT_EQ(a.blocks.size(), 2u);
  EXPECT_EQ(cache.free_blocks(), 2);
  ASSERT_TRUE(cache.Reserve(&b, 128).ok());
  EXPECT_EQ(cache.free_blocks(), 0);
  KvSequence c;
  EXPECT_EQ(cache.Reserve(&c, 1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(c.blocks.empty());
  float row[8] = {1, 2, 3, 4, 5, 6, 7, 8.0001f};
  cache.Write(1, a, 64, row);
  cache.Write(1, b, 64, row);
  row[0] = 9;
  cache.Write(0, a, 64, row);
  EXPECT_EQ(cache.Row(1, a, 64)[0], 1.0f);
  EXPECT_EQ(cache.Row(0, a, 64)[0], 9.0f);
  EXPECT_EQ(cache.Row(1, a, 64)[7], 8.0001f);
  cache.Release(&a);
  EXPECT_EQ(cache.free_blocks(), 2);
  EXPECT_EQ(cache.Row(1, b, 64)[0], 1.0f);  // b untouched
}

TEST(KvCacheTest, Bf16CacheRoundsValues) {
  PagedKvCache cache(1, 1, 2, true);
  KvSequence a;
  ASSERT_TRUE(cache.Reserve(&a, 1).ok());
  float row[2] = {1.00390625f, 3.14159f};
  cache.Write(0, a, 0, row);
  EXPECT_EQ(cache.Row(0, a, 0)[0], RoundToBf16(row[0]));
  EXPECT_EQ(cache.Row(0, a, 0)[1], RoundToBf16(row[1]));
}

// `blocks` full blocks of ids, block i filled with ids[i].
std::vector<int> Blocks(const std::vector<int>& ids, int extra_tokens = 0) {
  std::vector<int> t;
  for (int id : ids) t.insert(t.end(), kBlockTokens, id);
  for (int i = 0; i < extra_tokens; ++i) t.push_back(400 + i);
  return t;
}

// A sequence of `tokens` with every row computed and its full blocks registered.
KvSequence Computed(PagedKvCache& cache, const std::vector<int>& tokens) {
  KvSequence s;
  EXPECT_TRUE(cache.Reserve(&s, static_cast<int64_t>(tokens.size())).ok());
  s.length = static_cast<int64_t>(tokens.size());
  cache.RegisterFullBlocks(&s, tokens);
  return s;
}

TEST(BlockHashTest, ChainedAndDeterministic) {
  std::vector<int> a(kBlockTokens), b(kBlockTokens);
  std::iota(a.begin(), a.end(), 0);
  std::iota(b.begin(), b.end(), 1);
  const uint64_t ha = HashKvBlock(kRootBlockHash, a.data());
  EXPECT_EQ(ha, HashKvBlock(kRootBlockHash, a.data()));
  EXPECT_NE(ha, HashKvBlock(kRootBlockHash, b.data()));
  // The same block after another prefix hashes differently.
  EXPECT_NE(HashKvBlock(ha, b.data()), HashKvBlock(kRootBlockHash, b.data()));
  EXPECT_NE(HashKvBlock(ha, b.data()),
            HashKvBlock(HashKvBlock(kRootBlockHash, b.data()), b.data()));
  // Swapping two ids changes the hash.
  std::swap(a[3], a[4]);
  EXPECT_NE(ha, HashKvBlock(kRootBlockHash, a.data()));
}

TEST(KvCachePrefixTest, SharedBlocksAreCountedAndStayCachedWhenReleased) {
  PagedKvCache cache(1, 6, 2, false);
  KvSequence a = Computed(cache, Blocks({5, 6}, 3));  // two full blocks and a partial one
  EXPECT_EQ(a.block_hashes.size(), 2u);
  EXPECT_EQ(cache.cached_blocks(), 2);
  float row[2] = {7, 8};
  cache.Write(0, a, 70, row);
  EXPECT_EQ(cache.free_blocks(), 3);

  KvSequence b;
  EXPECT_EQ(cache.AcquirePrefix(&b, Blocks({5, 6, 9})), 2 * kBlockTokens);
  ASSERT_EQ(b.blocks.size(), 2u);
  EXPECT_EQ(b.blocks[0], a.blocks[0]);  // no copy: the same block ids
  EXPECT_EQ(b.blocks[1], a.blocks[1]);
  EXPECT_EQ(b.length, 2 * kBlockTokens);
  EXPECT_EQ(b.block_hashes, a.block_hashes);
  EXPECT_EQ(cache.ref_count(a.blocks[0]), 2);
  EXPECT_EQ(cache.Row(0, b, 70)[0], 7.0f);  // a's rows
  EXPECT_EQ(cache.free_blocks(), 3);
  ASSERT_TRUE(cache.Reserve(&b, 3 * kBlockTokens).ok());
  EXPECT_EQ(cache.free_blocks(), 2);

  cache.Release(&a);  // its partial block is free; the shared ones are still b's
  EXPECT_EQ(cache.free_blocks(), 3);
  EXPECT_EQ(cache.ref_count(b.blocks[0]), 1);
  EXPECT_EQ(cache.evictable_blocks(), 0);
  cache.Release(&b);
  EXPECT_EQ(cache.free_blocks(), 6);
  EXPECT_EQ(cache.evictable_blocks(), 2);
  EXPECT_EQ(cache.cached_blocks(), 2);
  EXPECT_TRUE(b.block_hashes.empty());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(cache.ref_count(i), 0) << i;

  // Unreferenced cached blocks are still found.
  KvSequence c;
  EXPECT_EQ(cache.AcquirePrefix(&c, Blocks({5}, 1)), kBlockTokens);
  EXPECT_EQ(cache.evictable_blocks(), 1);
  EXPECT_EQ(cache.free_blocks(), 5);
  cache.Release(&c);
  EXPECT_EQ(cache.free_blocks(), 6);
}

TEST(KvCachePrefixTest, TheLastTokenIsAlwaysLeftToCompute) {
  PagedKvCache cache(1, 4, 2, false);
  KvSequence a = Computed(cache, Blocks({5, 6}));
  KvSequence b;
  // All 128 tokens are cached, but the last must be computed: only the first block is reused.
  EXPECT_EQ(cache.AcquirePrefix(&b, Blocks({5, 6})), kBlockTokens);
  cache.Release(&b);
  EXPECT_EQ(cache.AcquirePrefix(&b, Blocks({5, 6}, 1)), 2 * kBlockTokens);
  cache.Release(&b);
  EXPECT_EQ(cache.AcquirePrefix(&b, Blocks({5})), 0);
  EXPECT_TRUE(b.blocks.empty());
  cache.Release(&a);
  EXPECT_EQ(cache.free_blocks(), 4);
}

TEST(KvCachePrefixTest, ABlockAfterADifferentPrefixIsNotReused) {
  PagedKvCache cache(1, 8, 2, false);
  KvSequence a = Computed(cache, Blocks({5, 6, 7}));
  KvSequence b;
  // Block 6 and 7 match in content but follow another first block.
  EXPECT_EQ(cache.AcquirePrefix(&b, Blocks({9, 6, 7}, 1)), 0);
  EXPECT_TRUE(b.blocks.empty());
  // A common first block, then a different one: only the first is reused.
  EXPECT_EQ(cache.AcquirePrefix(&b, Blocks({5, 9, 7}, 1)), kBlockTokens);
  // Rows computed after a reused prefix chain from it.
  ASSERT_TRUE(cache.Reserve(&b, 3 * kBlockTokens + 1).ok());
  b.length = 3 * kBlockTokens + 1;
  cache.RegisterFullBlocks(&b, Blocks({5, 9, 7}, 1));
  EXPECT_EQ(cache.cached_blocks(), 5);
  EXPECT_NE(b.block_hashes[2], a.block_hashes[2]);
  cache.Release(&a);
  cache.Release(&b);
  KvSequence c;
  EXPECT_EQ(cache.AcquirePrefix(&c, Blocks({5, 9, 7}, 1)), 3 * kBlockTokens);
  cache.Release(&c);
  EXPECT_EQ(cache.free_blocks(), 8);
}

TEST(KvCachePrefixTest, ADuplicateOfACachedBlockIsFreedNotCached) {
  PagedKvCache cache(1, 4, 2, false);
  KvSequence a = Computed(cache, Blocks({5}, 1));
  KvSequence b = Computed(cache, Blocks({5}, 1));  // computed side by side, not reused
  EXPECT_NE(a.blocks[0], b.blocks[0]);
  EXPECT_EQ(b.block_hashes, a.block_hashes);
  EXPECT_EQ(cache.cached_blocks(), 1);
  cache.Release(&b);
  EXPECT_EQ(cache.evictable_blocks(), 0);
  EXPECT_EQ(cache.free_blocks(), 2);
  cache.Release(&a);
  EXPECT_EQ(cache.evictable_blocks(), 1);
  EXPECT_EQ(cache.free_blocks(), 4);
}

TEST(KvCachePrefixTest, EvictsLeastRecentlyReleasedTailFirst) {
  PagedKvCache cache(1, 4, 2, false);
  KvSequence a = Computed(cache, Blocks({5, 6}));
  KvSequence b = Computed(cache, Blocks({7, 8}));
  const std::vector<int> a_blocks = a.blocks, b_blocks = b.blocks;
  cache.Release(&a);
  cache.Release(&b);
  EXPECT_EQ(cache.free_blocks(), 4);
  EXPECT_EQ(cache.evictable_blocks(), 4);
  // The free list is empty: a new block evicts a's last block (released first, tail first).
  KvSequence c;
  ASSERT_TRUE(cache.Reserve(&c, 1).ok());
  EXPECT_EQ(c.blocks[0], a_blocks[1]);
  EXPECT_EQ(cache.cached_blocks(), 3);
  EXPECT_EQ(cache.free_blocks(), 3);
  KvSequence d;
  EXPECT_EQ(cache.AcquirePrefix(&d, Blocks({5, 6}, 1)), kBlockTokens);  // the tail is gone
  EXPECT_EQ(d.blocks[0], a_blocks[0]);
  // b's blocks are evicted next (d holds a's first block), b's tail first.
  ASSERT_TRUE(cache.Reserve(&c, 2 * kBlockTokens).ok());
  EXPECT_EQ(c.blocks[1], b_blocks[1]);
  KvSequence e;
  EXPECT_EQ(cache.Reserve(&e, 2 * kBlockTokens).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(e.blocks.empty());
  ASSERT_TRUE(cache.Reserve(&e, 1).ok());
  EXPECT_EQ(e.blocks[0], b_blocks[0]);
  EXPECT_EQ(cache.cached_blocks(), 1);  // a's first block, held by d
  EXPECT_EQ(cache.free_blocks(), 0);
  cache.Release(&c);
  cache.Release(&d);
  cache.Release(&e);
  EXPECT_EQ(cache.free_blocks(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(cache.ref_count(i), 0) << i;
}

}  // namespace
}  // namespace r1
