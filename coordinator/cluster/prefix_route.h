// The routing decision of prefix-aware routing, a pure function: given the workers that can take a
// request and, per matched block of its prompt, the worker last routed that block
// (PrefixAffinityTable::Match), pick the worker. The rule:
//
//   the holder of the deepest matched block among the candidates whose load is at most the least
//   candidate load plus `load_threshold`; when no holder qualifies, the least loaded candidate.
//
// Load is ClusterState's measure (queued prompt tokens, prompt tokens routed since the last
// Stats, 64 per sequence in flight on the worker and 16 per sequence in flight on its group), so
// the threshold is in tokens of queued work: a holder may be that much busier than the least
// loaded worker and still win, as its prefix cache saves it the matched blocks' prefill.
#ifndef R1_COORDINATOR_CLUSTER_PREFIX_ROUTE_H_
#define R1_COORDINATOR_CLUSTER_PREFIX_ROUTE_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace r1 {

// Why a request went to its worker (the metric r1_routing_decisions_total{reason}).
enum class RouteReason {
  kPrefix,      // to the holder of its longest matching prefix
  kLoad,        // least loaded: no candidate holds a matching block
  kOverloaded,  // least loaded: the holders were past the load threshold
};

struct RouteCandidate {
  uint64_t owner = 0;  // the worker's key in the PrefixAffinityTable
  int64_t load = 0;
};

struct RouteChoice {
  size_t index = 0;  // into the candidates
  RouteReason reason = RouteReason::kLoad;
  int64_t matched_blocks = 0;  // blocks the chosen worker holds (kPrefix), else 0
};

// `candidates` must not be empty; `owners[i]`: the owner of the prompt's block i (0: none). Ties
// in load go to the earlier candidate.
RouteChoice ChooseRoute(absl::Span<const RouteCandidate> candidates,
                        absl::Span<const uint64_t> owners, int64_t load_threshold);

}  // namespace r1

#endif  // R1_COORDINATOR_CLUSTER_PREFIX_ROUTE_H_
