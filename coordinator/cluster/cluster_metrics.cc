#include "coordinator/cluster/cluster_metrics.h"

#include <algorithm>

namespace r1 {
namespace {

prometheus::Family<prometheus::Gauge>& Family(prometheus::Registry* r, const std::string& name,
                                              const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(*r);
}

prometheus::Family<prometheus::Counter>& Decisions(prometheus::Registry* r) {
  return prometheus::BuildCounter()
      .Name("r1_routing_decisions_total")
      .Help(
          "Requests routed to a worker, by reason: prefix (the holder of the longest matching "
          "prompt prefix), load (least loaded: no match), overloaded (least loaded: the holder "
          "was past the load threshold).")
      .Register(*r);
}

// Advances `c` from `*seen` to `now`.
void Advance(prometheus::Counter& c, uint64_t now, uint64_t* seen) {
  if (now > *seen) c.Increment(static_cast<double>(now - *seen));
  *seen = std::max(*seen, now);
}

}  // namespace

ClusterMetrics::ClusterMetrics(prometheus::Registry* r)
    : workers_(Family(r, "r1_workers", "Workers known to the coordinator, by state.")),
      groups_(Family(r, "r1_groups", "Engine groups, by state.")),
      group_up_(Family(r, "r1_group_up", "1 while the engine group serves.")),
      worker_up_(Family(r, "r1_worker_up", "1 while the worker is attached.")),
      group_routed_(Family(r, "r1_group_requests_routed",
                           "Requests routed to the engine group since it formed.")),
      load_ratio_(Family(r, "r1_worker_weight_load_ratio",
                         "Fraction of its weights the worker has loaded.")),
      running_(Family(r, "r1_requests_running", "Sequences running on workers.").Add({})),
      waiting_(Family(r, "r1_requests_waiting", "Sequences waiting on workers.").Add({})),
      kv_usage_(
          Family(r, "r1_kv_cache_usage_ratio", "Used fraction of the workers' KV blocks.").Add({})),
      decisions_(Decisions(r)),
      by_prefix_(decisions_.Add({{"reason", "prefix"}})),
      by_load_(decisions_.Add({{"reason", "load"}})),
      overloaded_(decisions_.Add({{"reason", "overloaded"}})),
      prefix_tokens_(prometheus::BuildCounter()
                         .Name("r1_routing_prefix_matched_tokens_total")
                         .Help("Prompt tokens of the requests routed by prefix that the chosen "
                               "worker was last sent (full 64-token blocks).")
                         .Register(*r)
                         .Add({})) {}

void ClusterMetrics::UpdateRouting(const ClusterState::RoutingCounts& c) {
  std::lock_guard<std::mutex> lock(mu_);
  Advance(by_prefix_, c.by_prefix, &routing_seen_.by_prefix);
  Advance(by_load_, c.by_load, &routing_seen_.by_load);
  Advance(overloaded_, c.overloaded, &routing_seen_.overloaded);
  Advance(prefix_tokens_, c.prefix_tokens, &routing_seen_.prefix_tokens);
}

prometheus::Gauge& ClusterMetrics::Labeled(prometheus::Family<prometheus::Gauge>& f,
                                           const std::string& key, const std::string& value) {
  const std::string id = std::to_string(reinterpret_cast<uintptr_t>(&f)) + "/" + key + "=" + value;
  auto it = series_.find(id);
  if (it == series_.end()) it = series_.emplace(id, &f.Add({{key, value}})).first;
  return *it->second;
}

void ClusterMetrics::Update(const r1::v1::ClusterStatusResponse& st) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, g] : series_) g->Set(0);  // series of things that went away read 0
  uint64_t running = 0, waiting = 0, kv_total = 0, kv_free = 0;
  for (const auto& w : st.workers()) {
    Labeled(workers_, "state", r1::v1::WorkerState_Name(w.state())).Increment();
    Labeled(worker_up_, "worker", w.worker_id()).Set(1);
    const auto& lp = w.load_progress();
    Labeled(load_ratio_, "worker", w.worker_id())
        .Set(lp.bytes_total() ? static_cast<double>(lp.bytes_loaded()) / lp.bytes_total() : 0);
    running += w.stats().running_sequences();
    waiting += w.stats().waiting_sequences();
    kv_total += w.stats().kv_blocks_total();
    kv_free += w.stats().kv_blocks_free();
  }
  for (const auto& g : st.groups()) {
    const std::string id = std::to_string(g.group_id());
    Labeled(groups_, "state", r1::v1::GroupState_Name(g.state())).Increment();
    Labeled(group_up_, "group", id).Set(g.state() == r1::v1::GROUP_STATE_SERVING ? 1 : 0);
    Labeled(group_routed_, "group", id).Set(static_cast<double>(g.requests_served()));
  }
  running_.Set(static_cast<double>(running));
  waiting_.Set(static_cast<double>(waiting));
  kv_usage_.Set(kv_total ? 1.0 - static_cast<double>(kv_free) / kv_total : 0.0);
}

}  // namespace r1
