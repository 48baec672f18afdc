#include <cmath>
#include <limits>
#include <vector>

#include "kernels/moe_gating/moe_gating.h"

namespace r1::kernels {

absl::Status ValidateMoeGating(const MoeGatingParams& p) {
  if (p.tokens < 0 || p.experts <= 0 || p.experts > 1024 || p.groups <= 0 ||
      p.experts % p.groups != 0 || p.topk_groups < 1 || p.topk_groups > p.groups || p.top_k < 1 ||
      p.top_k > 32 || p.top_k > p.topk_groups * (p.experts / p.groups)) {
    return absl::InvalidArgumentError("moe_gating: inconsistent routing configuration");
  }
  if (p.tokens > 0 && (p.logits == nullptr || p.bias == nullptr || p.topk_ids == nullptr ||
                       p.topk_weights == nullptr)) {
    return absl::InvalidArgumentError("moe_gating: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoeGatingReference(const MoeGatingParams& p) {
  if (auto st = ValidateMoeGating(p); !st.ok()) return st;
  const int per_group = p.experts / p.groups;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> s(p.experts), b(p.experts), gs(p.groups);
  std::vector<bool> kept(p.groups);
  for (int64_t t = 0; t < p.tokens; ++t) {
    if (p.valid_tokens != nullptr && t >= *p.valid_tokens) {  // a filler row: no expert
      for (int j = 0; j < p.top_k; ++j) {
        p.topk_ids[t * p.top_k + j] = -1;
        p.topk_weights[t * p.top_k + j] = 0.0f;
      }
      continue;
    }
    for (int e = 0; e < p.experts; ++e) {
      s[e] = 1.0f / (1.0f + std::exp(-p.logits[t * p.experts + e]));
      b[e] = s[e] + p.bias[e];
    }
    for (int g = 0; g < p.groups; ++g) {
      float m1 = neg_inf, m2 = neg_inf;  // the two largest of the group
      for (int e = g * per_group; e < (g + 1) * per_group; ++e) {
        if (b[e] > m1) {
          m2 = m1;
          m1 = b[e];
        } else if (b[e] > m2) {
          m2 = b[e];
        }
      }
      gs[g] = per_group >= 2 ? m1 + m2 : m1;
      kept[g] = false;
    }
    for (int k = 0; k < p.topk_groups; ++k) {
      int best = -1;
      for (int g = 0; g < p.groups; ++g) {
        if (!kept[g] && (best < 0 || gs[g] > gs[best])) best = g;
      }
      kept[best] = true;
    }
    for (int e = 0; e < p.experts; ++e) {
      if (!kept[e / per_group]) b[e] = neg_inf;
    }
    float sum = 0.0f;
    for (int k = 0; k < p.top_k; ++k) {
      int best = -1;
      for (int e = 0; e < p.experts; ++e) {
        if (b[e] != neg_inf && (best < 0 || b[e] > b[best])) best = e;
      }
      p.topk_ids[t * p.top_k + k] = best;
      b[best] = neg_inf;
      sum += s[best];
    }
    for (int k = 0; k < p.top_k; ++k) {
      const float w = s[p.topk_ids[t * p.top_k + k]];
      p.topk_weights[t * p.top_k + k] =
          (p.normalize ? w / (sum + 1e-20f) : w) * p.routed_scaling_factor;
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
