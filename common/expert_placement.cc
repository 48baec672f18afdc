#include "common/expert_placement.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace r1 {

EpPlacement EpPlacement::Contiguous(int n_experts, int world) {
  EpPlacement p;
  p.expert_rank.resize(n_experts > 0 ? n_experts : 0);
  if (world <= 0) return p;
  for (int r = 0; r < world; ++r) {
    const int begin = static_cast<int>(static_cast<int64_t>(r) * n_experts / world);
    const int end = static_cast<int>(static_cast<int64_t>(r + 1) * n_experts / world);
    for (int e = begin; e < end; ++e) p.expert_rank[e] = r;
  }
  return p;
}

const std::vector<int>& EpPlacement::ForLayer(int layer) const {
  auto it = per_layer.find(layer);
  return it == per_layer.end() ? expert_rank : it->second;
}

absl::Status EpPlacement::Validate(int n_experts, int world) const {
  auto check = [&](const std::vector<int>& m, const std::string& what) -> absl::Status {
    if (static_cast<int>(m.size()) != n_experts) {
      return absl::InvalidArgumentError(absl::StrCat("expert placement ", what, ": ", m.size(),
                                                     " entries for ", n_experts, " experts"));
    }
    for (int e = 0; e < n_experts; ++e) {
      if (m[e] < 0 || m[e] >= world) {
        return absl::InvalidArgumentError(absl::StrCat("expert placement ", what, ": expert ", e,
                                                       " on rank ", m[e], " of ", world));
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(check(expert_rank, "(all layers)"));
  for (const auto& [layer, m] : per_layer) {
    RETURN_IF_ERROR(check(m, absl::StrCat("of layer ", layer)));
  }
  return absl::OkStatus();
}

bool EpPlacement::Holds(int rank, int layer, int expert) const {
  const std::vector<int>& m = ForLayer(layer);
  return expert >= 0 && expert < static_cast<int>(m.size()) && m[expert] == rank;
}

std::vector<int> EpPlacement::ExpertsOf(int rank, int layer) const {
  const std::vector<int>& m = ForLayer(layer);
  std::vector<int> out;
  for (int e = 0; e < static_cast<int>(m.size()); ++e) {
    if (m[e] == rank) out.push_back(e);
  }
  return out;
}

std::function<bool(int, int)> EpPlacement::WantExpert(int rank) const {
  return [p = *this, rank](int layer, int expert) { return p.Holds(rank, layer, expert); };
}

}  // namespace r1
