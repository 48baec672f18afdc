#include "worker/kv_cache/kv_cache.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace r1
