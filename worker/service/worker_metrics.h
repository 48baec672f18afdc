// WorkerMetrics: one worker's Prometheus metrics (DESIGN.md §9; every name, type and label is
// listed in docs/METRICS.md): its engine steps (time by phase, batch size, tokens), sequences,
// KV blocks and prefix cache, MTP speculative decoding (drafts verified and accepted), weight
// loading, device memory, forward errors and group failures, and the expert-parallel exchange of
// every MoE layer (collective wait, dispatch, experts, combine, rows per peer, expert load per
// layer). Every series carries worker="<id>"; those of a group also group="<id>" and rank="<r>".
// Cardinality is bounded by layers and group size (never a series per expert).
//
// Registers into a caller-owned prometheus::Registry (a worker serves it on --metrics_address).
// Create() turns prometheus-cpp's exceptions (a name registered twice with another type) into a
// Status. Thread-compatible: the worker's step thread makes every call; prometheus-cpp makes
// scraping from another thread safe.
#ifndef R1_WORKER_SERVICE_WORKER_METRICS_H_
#define R1_WORKER_SERVICE_WORKER_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "worker/engine/engine.h"
#include "worker/model/ep_exchange_stats.h"

namespace r1 {

// The engine's state, sampled by the step loop.
struct EngineGauges {
  int running = 0;
  int waiting = 0;
  int64_t queued_tokens = 0;
  int kv_blocks_total = 0;
  int kv_blocks_free = 0;
  uint64_t preemptions = 0;  // cumulative, as Engine::preemptions()
  // Cumulative, as Engine::prefix_cache_queries() and prefix_cache_hits() (tokens).
  uint64_t prefix_cache_queries = 0;
  uint64_t prefix_cache_hits = 0;
};

class WorkerMetrics final : public EpExchangeObserver {
 public:
  // `registry`: borrowed, must outlive the result.
  static absl::StatusOr<std::unique_ptr<WorkerMetrics>> Create(prometheus::Registry* registry,
                                                               const std::string& worker_id);
  ~WorkerMetrics() override;

  // From now on this worker is `rank` of group `group` (a new engine: its cumulative counts start
  // at 0). The previous assignment's series are removed.
  void SetAssignment(uint64_t group, int rank, int group_size);
  // No assignment any more (the group failed or was released): its series are removed.
  void ClearAssignment();

  // Per engine step; ignored without an assignment. The batch-shape histograms skip steps with
  // no sequences (an idle rank's lockstep step).
  void ObserveStep(const EngineStepStats& step);
  void SetEngineGauges(const EngineGauges& gauges);
  // Expert-parallel exchanges of the current assignment (EpExchangeObserver).
  void OnExchange(const EpExchangeStats& stats) override;

  // Routed assignments per expert id on this worker's experts, summed over layers, since the
  // current assignment began (empty before any exchange with expert load). For Stats.
  const std::vector<uint64_t>& expert_tokens() const { return expert_tokens_; }

  void SetWeightBytes(int64_t loaded, int64_t expected);
  void SetDeviceMemoryUsed(int64_t bytes);
  // The group's data plane failed with `code` (DeadlineExceeded: a collective timed out).
  void GroupFailed(absl::StatusCode code);

 private:
  struct Families;
  struct Scope;

  explicit WorkerMetrics(std::unique_ptr<Families> families);

  std::unique_ptr<Families> f_;
  std::unique_ptr<Scope> scope_;  // null without an assignment
  std::vector<uint64_t> expert_tokens_;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_WORKER_METRICS_H_
