#include "coordinator/cluster/prefix_affinity_table.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/kv_block_hash.h"

namespace r1 {
namespace {

using Owners = std::vector<uint64_t>;

// The chained hashes of `blocks` full blocks, block i filled with ids[i].
std::vector<uint64_t> Hashes(const std::vector<int>& ids) {
  std::vector<int> t;
  for (int id : ids) t.insert(t.end(), kBlockTokens, id);
  return HashKvBlocks(t.data(), t.size());
}

TEST(PrefixAffinityTableTest, MatchesTheLongestRecordedPrefix) {
  PrefixAffinityTable t(100);
  EXPECT_TRUE(t.Match(Hashes({1, 2, 3})).empty());
  t.Record(Hashes({1, 2}), 7);
  EXPECT_EQ(t.Match(Hashes({1, 2, 3})), (Owners{7, 7}));
  EXPECT_EQ(t.Match(Hashes({1, 9})), (Owners{7}));
  EXPECT_TRUE(t.Match(Hashes({2})).empty());  // block 2 after another prefix
  // A longer prompt sharing the prefix, routed elsewhere: its blocks name the new owner.
  t.Record(Hashes({1, 2, 3, 4}), 8);
  EXPECT_EQ(t.Match(Hashes({1, 2, 3, 4, 5})), (Owners{8, 8, 8, 8}));
  t.Record(Hashes({1, 6}), 9);
  EXPECT_EQ(t.Match(Hashes({1, 2, 3})), (Owners{9, 8, 8}));
  EXPECT_EQ(t.size(), 5u);
}

TEST(PrefixAffinityTableTest, EvictsTheLeastRecentlyUsedPastItsCapacity) {
  PrefixAffinityTable t(4, /*shards=*/1);
  t.Record(Hashes({1, 2}), 1);                   // a1 a2
  t.Record(Hashes({3, 4}), 2);                   // b1 b2
  EXPECT_EQ(t.Match(Hashes({1})), (Owners{1}));  // a1 used again
  t.Record(Hashes({5}), 3);                      // evicts a2 (the least recently used)
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.Match(Hashes({1, 2})), (Owners{1}));  // a1 used again
  t.Record(Hashes({6, 7, 8}), 4);                   // evicts b1, b2, then c1
  EXPECT_EQ(t.size(), 4u);
  EXPECT_TRUE(t.Match(Hashes({3, 4})).empty());
  EXPECT_TRUE(t.Match(Hashes({5})).empty());
  EXPECT_EQ(t.Match(Hashes({1})), (Owners{1}));
  EXPECT_EQ(t.Match(Hashes({6, 7, 8})), (Owners{4, 4, 4}));
}

TEST(PrefixAffinityTableTest, StaysWithinItsCapacityOverShards) {
  PrefixAffinityTable t(1000, 16);
  for (int p = 0; p < 200; ++p) t.Record(Hashes({p, p + 1, p + 2, p + 3, p + 4, p + 5}), 1);
  EXPECT_LE(t.size(), 1000u);
  EXPECT_GT(t.size(), 900u);
  PrefixAffinityTable tiny(3, 16);  // fewer blocks than shards
  tiny.Record(Hashes({1, 2, 3, 4, 5, 6}), 1);
  EXPECT_EQ(tiny.size(), 3u);
}

TEST(PrefixAffinityTableTest, IsSafeFromManyThreads) {
  PrefixAffinityTable t(512, 4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&t, i] {
      for (int r = 0; r < 500; ++r) {
        const auto h = Hashes({r % 17, r % 5, i});
        t.Match(h);
        t.Record(h, static_cast<uint64_t>(i + 1));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(t.size(), 512u);
}

}  // namespace
}  // namespace r1
