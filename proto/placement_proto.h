// Conversion between EpPlacement (common/expert_placement.h) and the ExpertPlacement message of
// cluster.proto that carries it from the coordinator to the workers in Assign.
#ifndef R1_PROTO_PLACEMENT_PROTO_H_
#define R1_PROTO_PLACEMENT_PROTO_H_

#include "absl/status/statusor.h"
#include "common/expert_placement.h"
#include "r1/v1/cluster.pb.h"

namespace r1 {

r1::v1::ExpertPlacement PlacementToProto(const EpPlacement& placement, int world);

// InvalidArgument unless the message names `world` ranks and every expert of [0, n_experts)
// exactly once (per-layer overrides included).
absl::StatusOr<EpPlacement> PlacementFromProto(const r1::v1::ExpertPlacement& proto, int n_experts,
                                               int world);

}  // namespace r1

#endif  // R1_PROTO_PLACEMENT_PROTO_H_
