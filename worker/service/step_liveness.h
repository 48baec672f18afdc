// StepLiveness: what the worker's step thread shares with its heartbeat and reader threads, so
// that liveness is reported apart from progress (DESIGN §10):
//   - the latest Stats snapshot (the heartbeat thread sends it every interval, whatever the step
//     thread is doing) and how long the step in progress has run (Stats.step_busy_ms);
//   - the current group's link, so that a coordinator's AbortGroup (reader thread) or the
//     watchdog (heartbeat thread) can abort the group's communicator while the step thread is
//     blocked in a collective.
// Thread-safe (one mutex); the step thread registers the link before using it and unregisters it
// before destroying it, so an abort never touches a destroyed link.
#ifndef R1_WORKER_SERVICE_STEP_LIVENESS_H_
#define R1_WORKER_SERVICE_STEP_LIVENESS_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "r1/v1/cluster.pb.h"
#include "worker/service/group_link.h"

namespace r1 {

class StepLiveness {
 public:
  // Step thread.
  void StepStarted(absl::Time now);
  void StepEnded();
  void Publish(const r1::v1::Stats& stats);
  // `link` (nullable: none) is the group `group_id`'s; borrowed until the next SetLink.
  void SetLink(GroupLink* link, uint64_t group_id);

  // Any thread.
  // The latest published stats with step_busy_ms filled in.
  r1::v1::Stats Snapshot(absl::Time now) const;
  // How long the step in progress has run; zero between steps.
  absl::Duration BusyFor(absl::Time now) const;
  // Aborts the current group's communicator if it is `group_id` (0: whichever it is). Returns
  // whether a link was aborted.
  bool AbortGroup(uint64_t group_id, const std::string& reason);
  uint64_t group_id() const;

 private:
  mutable absl::Mutex mu_;
  r1::v1::Stats stats_ ABSL_GUARDED_BY(mu_);
  absl::Time step_started_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  GroupLink* link_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t group_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_STEP_LIVENESS_H_
