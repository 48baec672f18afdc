#include "proto/placement_proto.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(PlacementProtoTest, RoundTripsWithOverrides) {
  EpPlacement p = EpPlacement::Contiguous(8, 4);
  p.per_layer[3] = {3, 2, 1, 0, 3, 2, 1, 0};
  const r1::v1::ExpertPlacement proto = PlacementToProto(p, 4);
  ASSERT_EQ(proto.ranks_size(), 4);
  EXPECT_EQ(proto.ranks(1).experts_size(), 2);
  auto back = PlacementFromProto(proto, 8, 4);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->expert_rank, p.expert_rank);
  EXPECT_EQ(back->per_layer, p.per_layer);
}

TEST(PlacementProtoTest, RejectsMalformedPlacements) {
  const r1::v1::ExpertPlacement good = PlacementToProto(EpPlacement::Contiguous(4, 2), 2);
  EXPECT_FALSE(PlacementFromProto(good, 4, 3).ok());  // wrong number of ranks
  EXPECT_FALSE(PlacementFromProto(good, 5, 2).ok());  // expert 4 on no rank
  r1::v1::ExpertPlacement twice = good;
  twice.mutable_ranks(1)->add_experts(0);
  EXPECT_NE(PlacementFromProto(twice, 4, 2).status().message().find("expert 0 is on ranks"),
            std::string::npos);
  r1::v1::ExpertPlacement out_of_range = good;
  out_of_range.mutable_ranks(0)->add_experts(-1);
  EXPECT_FALSE(PlacementFromProto(out_of_range, 4, 2).ok());
  r1::v1::ExpertPlacement bad_layer = good;
  (*bad_layer.mutable_per_layer())[1].add_ranks();
  EXPECT_NE(PlacementFromProto(bad_layer, 4, 2).status().message().find("of layer 1"),
            std::string::npos);
}

}  // namespace
}  // namespace r1
