#include "proto/placement_proto.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace r1 {
namespace {

void RanksToProto(const std::vector<int>& expert_rank, int world,
                  google::protobuf::RepeatedPtrField<r1::v1::RankExperts>* ranks) {
  for (int r = 0; r < world; ++r) ranks->Add();
  for (int e = 0; e < static_cast<int>(expert_rank.size()); ++e) {
    ranks->Mutable(expert_rank[e])->add_experts(e);
  }
}

// Expert → rank from one list of per-rank expert sets; every expert exactly once.
absl::StatusOr<std::vector<int>> RankMap(
    const google::protobuf::RepeatedPtrField<r1::v1::RankExperts>& ranks, int n_experts, int world,
    const std::string& what) {
  if (ranks.size() != world) {
    return absl::InvalidArgumentError(absl::StrCat("expert placement ", what, " names ",
                                                   ranks.size(), " ranks for a group of ", world));
  }
  std::vector<int> map(n_experts, -1);
  for (int r = 0; r < world; ++r) {
    for (int e : ranks[r].experts()) {
      if (e < 0 || e >= n_experts) {
        return absl::InvalidArgumentError(absl::StrCat("expert placement ", what, ": rank ", r,
                                                       " holds expert ", e, " of ", n_experts));
      }
      if (map[e] != -1) {
        return absl::InvalidArgumentError(absl::StrCat("expert placement ", what, ": expert ", e,
                                                       " is on ranks ", map[e], " and ", r));
      }
      map[e] = r;
    }
  }
  for (int e = 0; e < n_experts; ++e) {
    if (map[e] == -1) {
      return absl::InvalidArgumentError(
          absl::StrCat("expert placement ", what, ": expert ", e, " is on no rank"));
    }
  }
  return map;
}

}  // namespace

r1::v1::ExpertPlacement PlacementToProto(const EpPlacement& placement, int world) {
  r1::v1::ExpertPlacement p;
  RanksToProto(placement.expert_rank, world, p.mutable_ranks());
  for (const auto& [layer, map] : placement.per_layer) {
    RanksToProto(map, world, (*p.mutable_per_layer())[layer].mutable_ranks());
  }
  return p;
}

absl::StatusOr<EpPlacement> PlacementFromProto(const r1::v1::ExpertPlacement& proto, int n_experts,
                                               int world) {
  EpPlacement p;
  ASSIGN_OR_RETURN(p.expert_rank, RankMap(proto.ranks(), n_experts, world, "(all layers)"));
  for (const auto& [layer, lp] : proto.per_layer()) {
    ASSIGN_OR_RETURN(p.per_layer[layer],
                     RankMap(lp.ranks(), n_experts, world, absl::StrCat("of layer ", layer)));
  }
  return p;
}

}  // namespace r1
