#include "worker/model/progress_weight_source.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace r1 {

ProgressWeightSource::ProgressWeightSource(const WeightSource* inner, uint64_t total_bytes,
                                           int mtp_first_layer, absl::Duration interval,
                                           Callback report, Clock now)
    : inner_(inner),
      total_(total_bytes),
      mtp_first_layer_(mtp_first_layer),
      interval_(interval),
      report_(std::move(report)),
      now_(std::move(now)) {}

LoadProgressReport ProgressWeightSource::CurrentLocked(absl::Time now) const {
  LoadProgressReport r;
  r.bytes_loaded = loaded_;
  r.bytes_total = total_;
  const double secs = first_ == absl::InfinitePast() ? 0 : absl::ToDoubleSeconds(now - first_);
  r.bytes_per_second = secs > 0 ? static_cast<double>(loaded_) / secs : 0;
  r.done = total_ > 0 && loaded_ >= total_;
  if (!r.done && total_ > 0 && r.bytes_per_second > 0) {
    r.eta_seconds = static_cast<double>(total_ - loaded_) / r.bytes_per_second;
  }
  return r;
}

LoadProgressReport ProgressWeightSource::Current() const {
  absl::MutexLock lock(&mu_);
  return CurrentLocked(now_());
}

absl::StatusOr<TensorBytes> ProgressWeightSource::Fetch(const PlannedTensor& t) const {
  if (t.role == TensorRole::kMtp || t.layer >= mtp_first_layer_) return inner_->Fetch(t);
  {
    absl::MutexLock lock(&mu_);
    if (first_ == absl::InfinitePast()) first_ = now_();
  }
  absl::StatusOr<TensorBytes> got = inner_->Fetch(t);
  if (!got.ok()) return got;
  absl::MutexLock lock(&mu_);
  loaded_ += got->size;
  const absl::Time now = now_();
  const LoadProgressReport r = CurrentLocked(now);
  const bool due = now - last_report_ >= interval_;
  if ((r.done && !done_reported_) || (!r.done && due)) {
    last_report_ = now;
    done_reported_ = r.done;
    if (report_) report_(r);
  }
  return got;
}

uint64_t FetchedBytes(const WeightPlan& plan, const std::function<bool(int, int)>& want_expert) {
  uint64_t total = 0;
  for (const PlannedTensor& t : plan.tensors) {
    if (t.role == TensorRole::kMtp || t.layer >= plan.mtp_first_layer) continue;
    if (t.role == TensorRole::kRoutedExpert && want_expert && !want_expert(t.layer, t.expert)) {
      continue;
    }
    total += t.bytes();
  }
  return total;
}

std::string DescribeLoadProgress(const LoadProgressReport& r) {
  return absl::StrFormat(
      "loaded %.2f of %.2f GiB (%.2f GB/s%s)", r.bytes_loaded / 1073741824.0,
      r.bytes_total / 1073741824.0, r.bytes_per_second / 1e9,
      r.done ? "" : absl::StrCat(", ", static_cast<int64_t>(r.eta_seconds), " s left"));
}

}  // namespace r1
