#include "common/expert_placement.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(ExpertPlacementTest, ContiguousKeepsR1GroupsOnOneRank) {
  // R1: 256 experts in 8 groups of 32; with 8 or 4 ranks each group lives on one rank.
  for (int world : {1, 2, 4, 8}) {
    const EpPlacement p = EpPlacement::Contiguous(256, world);
    ASSERT_TRUE(p.Validate(256, world).ok());
    for (int group = 0; group < 8; ++group) {
      for (int e = group * 32; e < group * 32 + 32; ++e) {
        EXPECT_EQ(p.expert_rank[e], p.expert_rank[group * 32]) << "world " << world;
      }
    }
    for (int r = 0; r < world; ++r) EXPECT_EQ(p.ExpertsOf(r, 3).size(), 256u / world);
  }
}

TEST(ExpertPlacementTest, UnevenSplitsCoverEveryExpertOnce) {
  const EpPlacement p = EpPlacement::Contiguous(10, 3);
  ASSERT_TRUE(p.Validate(10, 3).ok());
  EXPECT_EQ(p.ExpertsOf(0, 0), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(p.ExpertsOf(1, 0), (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(p.ExpertsOf(2, 0), (std::vector<int>{6, 7, 8, 9}));
}

TEST(ExpertPlacementTest, PerLayerOverridesAndHolds) {
  EpPlacement p = EpPlacement::Contiguous(4, 2);
  p.per_layer[5] = {1, 1, 0, 0};
  EXPECT_TRUE(p.Holds(0, 1, 0));
  EXPECT_FALSE(p.Holds(0, 5, 0));
  EXPECT_TRUE(p.Holds(0, 5, 3));
  EXPECT_FALSE(p.Holds(0, 5, 4));
  EXPECT_FALSE(p.Holds(0, 5, -1));
  EXPECT_EQ(p.ExpertsOf(1, 5), (std::vector<int>{0, 1}));
  auto want = p.WantExpert(1);
  EXPECT_TRUE(want(5, 1));
  EXPECT_FALSE(want(0, 1));
}

TEST(ExpertPlacementTest, ValidateNamesTheBadEntry) {
  EpPlacement p = EpPlacement::Contiguous(4, 2);
  p.per_layer[2] = {0, 1, 2, 0};
  const absl::Status st = p.Validate(4, 2);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("layer 2"), std::string::npos) << st;
  EXPECT_NE(st.message().find("expert 2"), std::string::npos) << st;
  EXPECT_FALSE(EpPlacement::Contiguous(4, 2).Validate(5, 2).ok());
}

}  // namespace
}  // namespace r1
