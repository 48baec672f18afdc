// noaux_tc routing (spec §7): sigmoid affinities, a selection-only bias, group-limited top-k,
// normalisation over the chosen experts and the routed scaling factor. Pure; thread-safe.
#ifndef R1_WORKER_MODEL_GATING_H_
#define R1_WORKER_MODEL_GATING_H_

#include <cstdint>
#include <vector>

namespace r1 {

struct GatingParams {
  int n_experts = 0;
  int n_group = 1;
  int topk_group = 1;
  int top_k = 1;
  bool norm_topk_prob = true;
  float routed_scaling_factor = 1.0f;
};

struct ExpertChoice {
  std::vector<int> experts;    // top_k expert ids, ascending
  std::vector<float> weights;  // matching routing weights (normalised, scaled)
};

// `logits`: router logits z_e (fp32) for one token; `bias`: e_score_correction_bias.
// Excluded groups get selection score −∞ (spec §15).
ExpertChoice NoauxTcGate(const float* logits, const float* bias, const GatingParams& p);

// The routing weights noaux_tc would give `experts` (ascending) for these logits: their sigmoid
// affinities, normalised over the set when norm_topk_prob, times routed_scaling_factor.
ExpertChoice ChoiceForExperts(const float* logits, std::vector<int> experts, const GatingParams& p);

}  // namespace r1

#endif  // R1_WORKER_MODEL_GATING_H_
