#include "worker/model/gating.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace r1 {

ExpertChoice NoauxTcGate(const float* logits, const float* bias, const GatingParams& p) {
  const int e = p.n_experts;
  const int per_group = e / p.n_group;
  std::vector<float> s(e), b(e);
  for (int i = 0; i < e; ++i) {
    s[i] = 1.0f / (1.0f + std::exp(-logits[i]));
    b[i] = s[i] + bias[i];
  }
  // Group score: sum of the two largest biased scores (or the one, for one-expert groups).
  std::vector<float> group_score(p.n_group);
  for (int g = 0; g < p.n_group; ++g) {
    float top1 = -std::numeric_limits<float>::infinity(), top2 = top1;
    for (int i = g * per_group; i < (g + 1) * per_group; ++i) {
      if (b[i] > top1) {
        top2 = top1;
        top1 = b[i];
      } else if (b[i] > top2) {
        top2 = b[i];
      }
    }
    group_score[g] = per_group >= 2 ? top1 + top2 : top1;
  }
  std::vector<int> groups(p.n_group);
  std::iota(groups.begin(), groups.end(), 0);
  std::stable_sort(groups.begin(), groups.end(),
                   [&](int x, int y) { return group_score[x] > group_score[y]; });
  std::vector<float> sel(e, -std::numeric_limits<float>::infinity());
  for (int k = 0; k < p.topk_group; ++k) {
    for (int i = groups[k] * per_group; i < (groups[k] + 1) * per_group; ++i) sel[i] = b[i];
  }
  std::vector<int> order(e);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + p.top_k, order.end(),
                    [&](int x, int y) { return sel[x] > sel[y] || (sel[x] == sel[y] && x < y); });
  std::vector<int> chosen(order.begin(), order.begin() + p.top_k);
  return ChoiceForExperts(logits, std::move(chosen), p);
}

ExpertChoice ChoiceForExperts(const float* logits, std::vector<int> experts,
                              const GatingParams& p) {
  ExpertChoice out;
  out.experts = std::move(experts);
  std::sort(out.experts.begin(), out.experts.end());
  std::vector<float> s;
  float sum = 0.0f;
  for (int x : out.experts) {
    s.push_back(1.0f / (1.0f + std::exp(-logits[x])));
    sum += s.back();
  }
  for (float a : s) {
    float w = p.norm_topk_prob ? a / (sum + 1e-20f) : a;
    out.weights.push_back(w * p.routed_scaling_factor);
  }
  return out;
}

}  // namespace r1
