#include "coordinator/cluster/prefix_route.h"

#include <limits>

#include "absl/container/flat_hash_map.h"

namespace r1 {

RouteChoice ChooseRoute(absl::Span<const RouteCandidate> candidates,
                        absl::Span<const uint64_t> owners, int64_t load_threshold) {
  RouteChoice choice;
  int64_t least = std::numeric_limits<int64_t>::max();
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].load < least) {
      least = candidates[i].load;
      choice.index = i;
    }
  }
  if (owners.empty()) return choice;
  absl::flat_hash_map<uint64_t, size_t> by_owner;
  by_owner.reserve(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) by_owner.emplace(candidates[i].owner, i);
  // Deepest block first; consecutive blocks mostly share their owner, looked up once.
  bool held_by_candidate = false;
  uint64_t previous = 0;
  for (size_t b = owners.size(); b-- > 0;) {
    const uint64_t owner = owners[b];
    if (owner == 0 || owner == previous) continue;
    previous = owner;
    auto it = by_owner.find(owner);
    if (it == by_owner.end()) continue;  // not serving, or cannot take the request now
    held_by_candidate = true;
    if (candidates[it->second].load - least <= load_threshold) {
      choice.index = it->second;
      choice.reason = RouteReason::kPrefix;
      choice.matched_blocks = static_cast<int64_t>(b) + 1;
      return choice;
    }
  }
  choice.reason = held_by_candidate ? RouteReason::kOverloaded : RouteReason::kLoad;
  return choice;
}

}  // namespace r1
