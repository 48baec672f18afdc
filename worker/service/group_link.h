// GroupLink: this worker's membership in an expert-parallel engine group (Assign.group_size > 1,
// DESIGN.md §3, §6). It joins the group's Gloo communicator through the coordinator's Rendezvous
// service, builds the EpMoe executor from the Assign's expert placement, and answers the one
// question the step loop asks every tick: does any rank of the group have work? Every rank asks
// it exactly once per tick (an AllReduce(max)), so all ranks agree to step, and with the engine's
// lockstep option every step runs every MoE exchange on every rank. An idle group does not spin:
// ranks wait on their command queues between ticks.
//
// Any communication failure is sticky (health()): the group is broken and the worker drops its
// assignment; the coordinator re-forms groups from the surviving workers.
//
// Ownership: owns the communicator and the executor (the executor borrows the communicator and is
// destroyed first). Thread-compatible: used by the worker's step-loop thread only.
#ifndef R1_WORKER_SERVICE_GROUP_LINK_H_
#define R1_WORKER_SERVICE_GROUP_LINK_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/model_config.h"
#include "r1/v1/cluster.pb.h"
#include "worker/comm/communicator.h"
#include "worker/comm/ep_moe.h"

namespace r1 {

struct GroupLinkOptions {
  // Address this worker binds and advertises for the group's data plane; `iface` (a network
  // interface name) wins when set.
  std::string host = "127.0.0.1";
  std::string iface;
  // Bounds the bootstrap: every rank must have loaded its weights and joined within this.
  absl::Duration connect_timeout = absl::Seconds(300);
  // Per collective (the tick's AllReduce and each MoE exchange).
  absl::Duration collective_timeout = absl::Seconds(60);
};

// The Assign's placement as EpPlacement; InvalidArgument unless it names `world` ranks and every
// expert of [0, n_experts) exactly once (per layer override included).
absl::StatusOr<EpPlacement> PlacementFromProto(const r1::v1::ExpertPlacement& proto, int n_experts,
                                               int world);

class GroupLink {
 public:
  // Joins the group named by `assign` (rank, group_size, rendezvous_prefix, placement).
  // `channel` reaches the coordinator's Rendezvous service; it is used only during Create.
  static absl::StatusOr<std::unique_ptr<GroupLink>> Create(
      const r1::v1::Assign& assign, const ModelConfig& config,
      std::shared_ptr<grpc::ChannelInterface> channel, const GroupLinkOptions& options);

  // For CpuModel::set_expert_executor; owned by *this.
  ExpertExecutor* executor() { return ep_.get(); }

  // Whether any rank has work this tick. Every rank calls it once per tick.
  absl::StatusOr<bool> AnyBusy(bool local_busy);

  // OK while the group's communicator is usable.
  absl::Status health() const { return comm_->health(); }
  // Breaks the group at once so that peers fail fast (idempotent).
  void Abort() { comm_->Abort(); }

 private:
  GroupLink(std::unique_ptr<Communicator> comm, std::unique_ptr<EpMoe> ep, absl::Duration timeout)
      : comm_(std::move(comm)), ep_(std::move(ep)), timeout_(timeout) {}

  std::unique_ptr<Communicator> comm_;
  std::unique_ptr<EpMoe> ep_;  // borrows comm_; declared after it so it is destroyed first
  absl::Duration timeout_;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_GROUP_LINK_H_
