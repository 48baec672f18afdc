#include "coordinator/cluster/prefix_route.h"

#include <vector>

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(PrefixRouteTest, LeastLoadedWithoutAMatch) {
  const std::vector<RouteCandidate> c = {{1, 500}, {2, 100}, {3, 100}};
  RouteChoice r = ChooseRoute(c, {}, 4096);
  EXPECT_EQ(r.index, 1u);  // ties: the earlier candidate
  EXPECT_EQ(r.reason, RouteReason::kLoad);
  EXPECT_EQ(r.matched_blocks, 0);
  r = ChooseRoute(c, std::vector<uint64_t>{9, 9}, 4096);  // held by a worker not serving
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.reason, RouteReason::kLoad);
}

TEST(PrefixRouteTest, AffinityWinsWithinTheThreshold) {
  const std::vector<RouteCandidate> c = {{1, 1000}, {2, 100}};
  const RouteChoice r = ChooseRoute(c, std::vector<uint64_t>{1, 1, 1}, 900);
  EXPECT_EQ(r.index, 0u);
  EXPECT_EQ(r.reason, RouteReason::kPrefix);
  EXPECT_EQ(r.matched_blocks, 3);
}

TEST(PrefixRouteTest, LoadWinsPastTheThreshold) {
  const std::vector<RouteCandidate> c = {{1, 1001}, {2, 100}};
  const RouteChoice r = ChooseRoute(c, std::vector<uint64_t>{1, 1, 1}, 900);
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.reason, RouteReason::kOverloaded);
  EXPECT_EQ(r.matched_blocks, 0);
}

TEST(PrefixRouteTest, TheDeepestHolderWithinTheThresholdWins) {
  // Blocks 0-1 last went to 2, blocks 2-4 to 1, block 5 to 4 (no longer a candidate).
  const std::vector<uint64_t> owners = {2, 2, 1, 1, 1, 4};
  const std::vector<RouteCandidate> c = {{1, 300}, {2, 200}, {3, 0}};
  RouteChoice r = ChooseRoute(c, owners, 1000);
  EXPECT_EQ(r.index, 0u);
  EXPECT_EQ(r.reason, RouteReason::kPrefix);
  EXPECT_EQ(r.matched_blocks, 5);
  // Worker 1 too busy: the shallower holder 2 is next.
  r = ChooseRoute(c, owners, 250);
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.reason, RouteReason::kPrefix);
  EXPECT_EQ(r.matched_blocks, 2);
  // Both too busy: the least loaded.
  r = ChooseRoute(c, owners, 0);
  EXPECT_EQ(r.index, 2u);
  EXPECT_EQ(r.reason, RouteReason::kOverloaded);
}

}  // namespace
}  // namespace r1
