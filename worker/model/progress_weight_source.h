// ProgressWeightSource: a WeightSource that forwards every Fetch to another and reports how the
// load goes — bytes fetched so far of the share's total, the rate since the first fetch and the
// time left at that rate — at most once per `interval` and once more when the last byte arrives.
// A full R1 share (≈100 GB per rank) takes minutes to read; the worker logs each report and
// sends it to the coordinator (LoadProgress), where `r1ctl status` and the metrics show it.
//
// Ownership and thread-safety: borrows the inner source (must outlive this one). Fetch may be
// called from several threads, as WeightSource allows; reports are made under a mutex, one at a
// time, from the fetching thread — the callback must not call back into this source.
#ifndef R1_WORKER_MODEL_PROGRESS_WEIGHT_SOURCE_H_
#define R1_WORKER_MODEL_PROGRESS_WEIGHT_SOURCE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/model/weight_source.h"

namespace r1 {

struct LoadProgressReport {
  uint64_t bytes_loaded = 0;
  uint64_t bytes_total = 0;     // the share being loaded (0: unknown)
  double bytes_per_second = 0;  // since the first fetch
  double eta_seconds = 0;       // (total − loaded) / rate; 0 when done or unknown
  bool done = false;            // bytes_loaded reached bytes_total
};
// "loaded 1.23 of 4.56 GiB (2.00 GB/s, 3 s left)" (no time left once done): the line the worker
// logs and the load bench prints.
std::string DescribeLoadProgress(const LoadProgressReport& r);

class ProgressWeightSource : public WeightSource {
 public:
  using Callback = std::function<void(const LoadProgressReport&)>;
  using Clock = std::function<absl::Time()>;

  // `total_bytes`: what the load will fetch (FetchedBytes of the rank's share). Tensors of
  // layers at or past `mtp_first_layer` (the MTP layers, which loaders check but do not load)
  // pass through uncounted.
  ProgressWeightSource(const WeightSource* inner, uint64_t total_bytes, int mtp_first_layer,
                       absl::Duration interval, Callback report, Clock now = absl::Now);

  absl::StatusOr<TensorBytes> Fetch(const PlannedTensor& t) const override;
  std::string Describe() const override { return inner_->Describe(); }

  // The latest state, whether or not it was reported.
  LoadProgressReport Current() const;

 private:
  LoadProgressReport CurrentLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WeightSource* inner_;
  const uint64_t total_;
  const int mtp_first_layer_;
  const absl::Duration interval_;
  const Callback report_;
  const Clock now_;
  mutable absl::Mutex mu_;
  mutable uint64_t loaded_ ABSL_GUARDED_BY(mu_) = 0;
  mutable absl::Time first_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable absl::Time last_report_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable bool done_reported_ ABSL_GUARDED_BY(mu_) = false;
};

// Bytes of the main model's checkpoint tensors a rank fetches: every tensor but the routed
// experts it does not hold (`want_expert(layer, expert)`; null: all) and the MTP layers.
uint64_t FetchedBytes(const WeightPlan& plan, const std::function<bool(int, int)>& want_expert);

}  // namespace r1

#endif  // R1_WORKER_MODEL_PROGRESS_WEIGHT_SOURCE_H_
