// ClusterState::Drain (declared in cluster_state.h): a planned release of one engine group, for
// rolling restarts. Three phases: mark the group DRAINING (routing skips it), wait for its
// in-flight requests (polling without the lock), then end what is left and release the members.
#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "coordinator/cluster/cluster_state.h"
#include "r1/v1/inference.pb.h"

namespace r1 {
namespace {

constexpr absl::Duration kDefaultDrainTimeout = absl::Seconds(60);
constexpr absl::Duration kMaxDrainTimeout = absl::Hours(1);
constexpr absl::Duration kPoll = absl::Milliseconds(50);

}  // namespace

absl::StatusOr<r1::v1::DrainResponse> ClusterState::Drain(const r1::v1::DrainRequest& req) {
  if ((req.group_id() != 0) == !req.worker_id().empty()) {
    return absl::InvalidArgumentError("drain: give exactly one of group_id and worker_id");
  }
  const absl::Duration timeout = req.timeout_s() == 0
                                     ? kDefaultDrainTimeout
                                     : std::min(absl::Seconds(req.timeout_s()), kMaxDrainTimeout);
  r1::v1::DrainResponse resp;
  uint64_t group_id = req.group_id();
  // 1. Stop routing to the group.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!req.worker_id().empty()) {
      auto w = workers_.find(req.worker_id());
      if (w == workers_.end() || w->second.state == r1::v1::WORKER_STATE_DEAD) {
        return absl::NotFoundError(absl::StrCat("no worker '", req.worker_id(), "'"));
      }
      group_id = w->second.group_id;
      if (group_id == 0) {  // idle (or loading nothing): nothing to finish
        r1::v1::CoordinatorMessage bye;
        bye.mutable_shutdown()->set_reason("drained by the operator");
        w->second.state = r1::v1::WORKER_STATE_DRAINING;
        w->second.outbox->Push(std::move(bye));
        resp.add_shut_down(req.worker_id());
        log::Info({}, "drain: worker {} (idle) shut down", req.worker_id());
        return resp;
      }
    }
    auto g = groups_.find(group_id);
    if (g == groups_.end()) return absl::NotFoundError(absl::StrCat("no group ", group_id));
    if (g->second.state == r1::v1::GROUP_STATE_DRAINING) {
      return absl::FailedPreconditionError(absl::StrCat("group ", group_id, " is draining"));
    }
    g->second.state = r1::v1::GROUP_STATE_DRAINING;
    for (const std::string& id : g->second.workers) {
      auto w = workers_.find(id);
      if (w != workers_.end()) w->second.state = r1::v1::WORKER_STATE_DRAINING;
    }
    log::Info({}, "drain: group {} stops taking requests ({} in flight)", group_id,
              g->second.inflight);
  }
  resp.set_group_id(group_id);

  // 2. Let its requests finish.
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto g = groups_.find(group_id);
      if (g == groups_.end()) {
        return absl::AbortedError(absl::StrCat("group ", group_id, " went down while draining"));
      }
      if (g->second.inflight == 0 || absl::Now() >= deadline) break;
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kPoll));
  }

  // 3. End what is left, release the members.
  std::lock_guard<std::mutex> lock(mu_);
  auto g = groups_.find(group_id);
  if (g == groups_.end()) {
    return absl::AbortedError(absl::StrCat("group ", group_id, " went down while draining"));
  }
  std::vector<uint64_t> left;
  for (const auto& [seq, f] : inflight_) {
    if (f.group_id == group_id) left.push_back(seq);
  }
  for (uint64_t seq : left) {
    auto f = inflight_.find(seq);
    r1::v1::CoordinatorMessage cancel;
    cancel.mutable_cancel()->set_sequence_id(seq);
    auto w = workers_.find(f->second.worker_id);
    if (w != workers_.end()) w->second.outbox->Push(std::move(cancel));
    EndSequenceLocked(seq, r1::v1::FINISH_REASON_ERROR,
                      absl::StrCat("engine group ", group_id, " was drained"));
  }
  resp.set_requests_cut(static_cast<uint32_t>(left.size()));
  r1::v1::CoordinatorMessage release;
  release.mutable_abort_group()->set_group_id(group_id);
  release.mutable_abort_group()->set_reason("drained by the operator");
  release.mutable_abort_group()->set_drained(true);
  for (const std::string& id : g->second.workers) {
    auto w = workers_.find(id);
    if (w == workers_.end() || w->second.state == r1::v1::WORKER_STATE_DEAD) continue;
    w->second.outbox->Push(release);
    w->second.group_id = 0;
    if (id == req.worker_id()) {
      r1::v1::CoordinatorMessage bye;
      bye.mutable_shutdown()->set_reason("drained by the operator");
      w->second.outbox->Push(std::move(bye));
      resp.add_shut_down(id);  // stays DRAINING (never re-grouped) until its stream ends
    } else {
      w->second.state = r1::v1::WORKER_STATE_IDLE;
    }
  }
  groups_.erase(g);
  log::Info({}, "drain: group {} released ({} requests cut at the timeout)", group_id, left.size());
  FormGroupsLocked();
  return resp;
}

}  // namespace r1
