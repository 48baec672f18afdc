#include "worker/service/step_liveness.h"

#include <algorithm>

#include "common/logging.h"

namespace r1 {

void StepLiveness::StepStarted(absl::Time now) {
  absl::MutexLock lock(&mu_);
  step_started_ = now;
}

void StepLiveness::StepEnded() {
  absl::MutexLock lock(&mu_);
  step_started_ = absl::InfiniteFuture();
}

void StepLiveness::Publish(const r1::v1::Stats& stats) {
  absl::MutexLock lock(&mu_);
  stats_ = stats;
}

void StepLiveness::SetLink(GroupLink* link, uint64_t group_id) {
  absl::MutexLock lock(&mu_);
  link_ = link;
  group_id_ = link != nullptr ? group_id : 0;
}

r1::v1::Stats StepLiveness::Snapshot(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  r1::v1::Stats s = stats_;
  const absl::Duration busy = std::max(absl::ZeroDuration(), now - step_started_);
  s.set_step_busy_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(busy)));
  return s;
}

absl::Duration StepLiveness::BusyFor(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return std::max(absl::ZeroDuration(), now - step_started_);
}

bool StepLiveness::AbortGroup(uint64_t group_id, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  if (link_ == nullptr || (group_id != 0 && group_id != group_id_)) return false;
  log::Warn({}, "aborting group {}: {}", group_id_, reason);
  link_->Abort();
  return true;
}

uint64_t StepLiveness::group_id() const {
  absl::MutexLock lock(&mu_);
  return group_id_;
}

}  // namespace r1
