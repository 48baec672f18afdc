#include "worker/service/group_link.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/grpc_rendezvous_store.h"

namespace r1 {
namespace {

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

absl::StatusOr<std::unique_ptr<GroupLink>> GroupLink::Create(
    const r1::v1::Assign& assign, const ModelConfig& config,
    std::shared_ptr<grpc::ChannelInterface> channel, const GroupLinkOptions& options) {
  const int world = static_cast<int>(assign.group_size());
  const int rank = static_cast<int>(assign.rank());
  if (world < 2 || rank >= world) {
    return absl::InvalidArgumentError(
        absl::StrCat("assign: rank ", rank, " of a group of ", world, " is not a group link"));
  }
  if (assign.rendezvous_prefix().empty()) {
    return absl::InvalidArgumentError("assign: no rendezvous_prefix for a group of several ranks");
  }
  ASSIGN_OR_RETURN(
      EpPlacement placement,
      PlacementFromProto(assign.placement(), static_cast<int>(config.n_routed_experts), world));
  GrpcRendezvousStore store(std::move(channel));
  GlooOptions go;
  go.rank = rank;
  go.size = world;
  go.prefix = assign.rendezvous_prefix();
  go.hostname = options.host;
  go.iface = options.iface;
  go.connect_timeout = options.connect_timeout;
  ASSIGN_OR_RETURN(std::unique_ptr<GlooCommunicator> gloo, GlooCommunicator::Create(go, &store));
  std::unique_ptr<Communicator> comm = std::move(gloo);
  EpMoeOptions eo;
  eo.timeout = options.collective_timeout;
  ASSIGN_OR_RETURN(std::unique_ptr<EpMoe> ep,
                   EpMoe::Create(comm.get(), config, std::move(placement), eo));
  return std::unique_ptr<GroupLink>(
      new GroupLink(std::move(comm), std::move(ep), options.collective_timeout));
}

absl::StatusOr<bool> GroupLink::AnyBusy(bool local_busy) {
  int64_t v = local_busy ? 1 : 0;
  if (absl::Status st = comm_->AllReduce(absl::MakeSpan(&v, 1), ReduceOp::kMax, timeout_);
      !st.ok()) {
    comm_->Abort();
    return st;
  }
  return v > 0;
}

}  // namespace r1
