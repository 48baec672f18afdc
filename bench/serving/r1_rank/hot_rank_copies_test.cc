#include "bench/serving/r1_rank/hot_rank_copies.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

// Dispatch: every peer announces and sends this rank's block 0, so sizes agree: whole copies.
TEST(HotRankCopiesTest, DispatchReceivesBlockZeroFromEveryPeer) {
  auto c = HotRankCopies(3, {40, 16, 8}, {40, 40, 40});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 3u);
  for (int p = 0; p < 3; ++p) {
    EXPECT_EQ((*c)[p].dst_offset, 40 * p);
    EXPECT_EQ((*c)[p].copy_bytes, 40);
    EXPECT_EQ((*c)[p].zero_bytes, 0);
  }
}

// Combine: the caller expects from p what it sent p; block 0's results fill it, cut or padded.
TEST(HotRankCopiesTest, CombineCutsOrPadsToTheExpectedSizes) {
  auto c = HotRankCopies(3, {24, 24, 24}, {24, 40, 8});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0].dst_offset, 0);
  EXPECT_EQ((*c)[0].copy_bytes, 24);
  EXPECT_EQ((*c)[0].zero_bytes, 0);
  EXPECT_EQ((*c)[1].dst_offset, 24);
  EXPECT_EQ((*c)[1].copy_bytes, 24);
  EXPECT_EQ((*c)[1].zero_bytes, 16);
  EXPECT_EQ((*c)[2].dst_offset, 64);
  EXPECT_EQ((*c)[2].copy_bytes, 8);
  EXPECT_EQ((*c)[2].zero_bytes, 0);
}

TEST(HotRankCopiesTest, EmptyBlocksAndBadSizes) {
  auto c = HotRankCopies(2, {0, 8}, {0, 0});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)[1].copy_bytes, 0);
  EXPECT_FALSE(HotRankCopies(2, {8}, {8, 8}).ok());
  EXPECT_FALSE(HotRankCopies(2, {8, 8}, {8, -1}).ok());
  EXPECT_FALSE(HotRankCopies(0, {}, {}).ok());
}

}  // namespace
}  // namespace r1
