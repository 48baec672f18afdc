// ClusterMetrics: Prometheus gauges of the cluster's state, refreshed from a ClusterStatus
// snapshot at scrape time (DESIGN §9 names):
//   r1_workers{state}, r1_groups{state}, r1_group_up{group}, r1_worker_up{worker},
//   r1_requests_running, r1_requests_waiting, r1_kv_cache_usage_ratio,
//   r1_group_requests_routed{group} (requests routed to a group since it formed),
//   r1_worker_weight_load_ratio{worker};
// and counters of the routing decisions, advanced from ClusterState::routing_counts():
//   r1_routing_decisions_total{reason} (reason = prefix | load | overloaded),
//   r1_routing_prefix_matched_tokens_total.
// Registers into a caller-owned prometheus::Registry. Thread-safe (Update under a mutex).
#ifndef R1_COORDINATOR_CLUSTER_CLUSTER_METRICS_H_
#define R1_COORDINATOR_CLUSTER_CLUSTER_METRICS_H_

#include <map>
#include <mutex>
#include <string>

#include "coordinator/cluster/cluster_state.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "r1/v1/admin.pb.h"

namespace r1 {

class ClusterMetrics {
 public:
  explicit ClusterMetrics(prometheus::Registry* registry);  // borrowed; must outlive *this
  void Update(const r1::v1::ClusterStatusResponse& status);
  // Advances the routing counters to `counts` (cumulative; never goes back).
  void UpdateRouting(const ClusterState::RoutingCounts& counts);

 private:
  prometheus::Gauge& Labeled(prometheus::Family<prometheus::Gauge>& f, const std::string& key,
                             const std::string& value);

  std::mutex mu_;
  prometheus::Family<prometheus::Gauge>& workers_;
  prometheus::Family<prometheus::Gauge>& groups_;
  prometheus::Family<prometheus::Gauge>& group_up_;
  prometheus::Family<prometheus::Gauge>& worker_up_;
  prometheus::Family<prometheus::Gauge>& group_routed_;
  prometheus::Family<prometheus::Gauge>& load_ratio_;
  prometheus::Gauge& running_;
  prometheus::Gauge& waiting_;
  prometheus::Gauge& kv_usage_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Counter& by_prefix_;
  prometheus::Counter& by_load_;
  prometheus::Counter& overloaded_;
  prometheus::Counter& prefix_tokens_;
  ClusterState::RoutingCounts routing_seen_;  // what the counters hold
  // Series created for label values seen so far (kept, set to 0 when gone).
  std::map<std::string, prometheus::Gauge*> series_;
};

}  // namespace r1

#endif  // R1_COORDINATOR_CLUSTER_CLUSTER_METRICS_H_
