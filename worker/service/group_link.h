// GroupLink: this worker's membership in an expert-parallel engine group (Assign.group_size > 1,
// DESIGN.md §3, §6). It joins the group's communicator (through the backend: Gloo on CPUs, NCCL
// or host-staged Gloo on GPUs) via the coordinator's Rendezvous service, and answers the one
// questions the step loop asks every tick: does any rank of the group have work, and is the group
// being released? Every rank asks exactly once per tick (an AllReduce(max)), so all ranks agree
// to step (or to leave together), and with the engine's
// lockstep option every step runs every MoE exchange on every rank. An idle group does not spin:
// ranks wait on their command queues between ticks.
//
// Any communication failure is sticky (health()): the group is broken and the worker drops its
// assignment; the coordinator re-forms groups from the surviving workers.
//
// Ownership: owns the communicator; the model's expert executor borrows it, so the link must
// outlive the model. Thread-compatible: used by the worker's step-loop thread only (Abort and
// health may be called from any thread).
#ifndef R1_WORKER_SERVICE_GROUP_LINK_H_
#define R1_WORKER_SERVICE_GROUP_LINK_H_

#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "r1/v1/cluster.pb.h"
#include "worker/comm/communicator.h"
#include "worker/service/backend.h"

namespace r1 {

struct GroupLinkOptions {
  // Bounds the bootstrap: every rank must have joined within this.
  absl::Duration connect_timeout = absl::Seconds(300);
  // Per collective (the tick's AllReduce and each MoE exchange).
  absl::Duration collective_timeout = absl::Seconds(60);
  // Sent on every rendezvous call (the coordinator's cluster secret); empty: none.
  std::string cluster_secret;
};

// Every rank of `comm`'s group calls it with its own `value` of the setting `name`: OK when all
// are equal, FailedPrecondition listing each rank's value otherwise (the same answer on every
// rank, so all refuse together); a failed collective aborts `comm` and is returned.
absl::Status CheckSameOnEveryRank(Communicator& comm, const std::string& name, int64_t value,
                                  absl::Duration timeout);

class GroupLink {
 public:
  // Joins the group named by `assign` (rank, group_size, rendezvous_prefix) with `backend`'s
  // communicator. `channel` reaches the coordinator's Rendezvous service; used only during Create.
  static absl::StatusOr<std::unique_ptr<GroupLink>> Create(
      const r1::v1::Assign& assign, Backend& backend,
      std::shared_ptr<grpc::ChannelInterface> channel, const GroupLinkOptions& options);

  // The group's communicator, for the backend's expert executor; owned by *this.
  Communicator* comm() { return comm_.get(); }

  // What the ranks agree on at the start of every tick: whether any rank has work, and whether
  // any rank was told to leave the group (a planned release: all ranks then leave at this same
  // tick, so none is left waiting in a collective). Every rank calls Agree once per tick.
  struct TickAgreement {
    bool any_busy = false;
    bool leave = false;
  };
  absl::StatusOr<TickAgreement> Agree(bool local_busy, bool local_leave);

  // Called by every rank once, right after Create: FailedPrecondition, naming each rank's value,
  // unless every rank passes the same `value` of the setting `name` (a worker flag that must
  // match across the group, e.g. --speculative_tokens: every step runs that many MTP exchanges).
  absl::Status CheckSameOnEveryRank(const std::string& name, int64_t value) {
    return r1::CheckSameOnEveryRank(*comm_, name, value, timeout_);
  }

  // OK while the group's communicator is usable.
  absl::Status health() const { return comm_->health(); }
  // Breaks the group at once so that peers fail fast (idempotent).
  void Abort() { comm_->Abort(); }

 private:
  GroupLink(std::unique_ptr<Communicator> comm, absl::Duration timeout)
      : comm_(std::move(comm)), timeout_(timeout) {}

  std::unique_ptr<Communicator> comm_;
  absl::Duration timeout_;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_GROUP_LINK_H_
