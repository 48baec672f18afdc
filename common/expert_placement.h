// EpPlacement: which rank of an engine group holds each routed expert of each MoE layer
// (DESIGN.md §3). The one placement code of the project: the coordinator computes it
// (Contiguous), sends it in Assign (proto/placement_proto.h converts), and every worker loads
// only its experts (Holds) and routes tokens by it (ForLayer).
//
// Contiguous placement gives rank r the experts [⌊r·E/W⌋, ⌊(r+1)·E/W⌋). With R1's group-limited
// routing (256 experts in 8 groups of 32, each token choosing experts inside 4 groups) and W
// dividing the number of groups, every group lives on one rank, so a token's row goes to at most
// topk_group ranks (4 of 8) instead of up to top_k.
//
// Layers are the checkpoint's layer indices; the MTP layer (num_hidden_layers, 61 in R1) is placed
// like the main MoE layers (expert_rank unless per_layer names it), so a rank loads and serves its
// share of the MTP layer's experts when the group speculates.
//
// A value type; thread-compatible.
#ifndef R1_COMMON_EXPERT_PLACEMENT_H_
#define R1_COMMON_EXPERT_PLACEMENT_H_

#include <functional>
#include <map>
#include <vector>

#include "absl/status/status.h"

namespace r1 {

struct EpPlacement {
  std::vector<int> expert_rank;               // [n_experts] → rank, every layer by default
  std::map<int, std::vector<int>> per_layer;  // layer → [n_experts] → rank (overrides)

  // Rank r holds [⌊r·E/W⌋, ⌊(r+1)·E/W⌋).
  static EpPlacement Contiguous(int n_experts, int world);

  const std::vector<int>& ForLayer(int layer) const;
  // Every map has n_experts entries in [0, world).
  absl::Status Validate(int n_experts, int world) const;
  // Whether `rank` holds expert `expert` of `layer` (false for ids out of range).
  bool Holds(int rank, int layer, int expert) const;
  // The experts `rank` holds in `layer`, ascending: their local indices on that rank.
  std::vector<int> ExpertsOf(int rank, int layer) const;
  // For LoadOptions::want_expert: Holds(rank, layer, expert) over a copy of *this.
  std::function<bool(int, int)> WantExpert(int rank) const;
};

}  // namespace r1

#endif  // R1_COMMON_EXPERT_PLACEMENT_H_
