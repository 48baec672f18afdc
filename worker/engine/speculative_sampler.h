// Speculative-decoding verification (spec §10): given k draft tokens and the target model's
// distributions at the k + 1 positions that verify them, which tokens to emit.
//
//   - Greedy: accept drafts while each equals the target's greedy choice at its position; then
//     emit the target's choice at the first mismatch (or, all accepted, the bonus token after the
//     last draft). The emitted tokens are exactly what greedy decoding of the target gives.
//   - Stochastic (Leviathan et al. 2023; Chen et al. 2023): accept draft d_j with probability
//     min(1, p_j(d_j) / q_j(d_j)); at the first rejection emit a token drawn from
//     normalize(max(p_j − q_j, 0)) and stop; all accepted, draw the bonus token from p_k. Each
//     emitted token is then distributed as the target says. A draft chosen greedily is q one-hot.
//
// Draws are uniform numbers keyed by (seed, offset + j, purpose), so a (seed, position) replays
// exactly, as token_choice.h's draws do. Pure functions; thread-safe.
#ifndef R1_WORKER_ENGINE_SPECULATIVE_SAMPLER_H_
#define R1_WORKER_ENGINE_SPECULATIVE_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace r1 {

struct SpeculativeResult {
  int accepted = 0;         // drafts accepted (a prefix of them), 0..k
  std::vector<int> tokens;  // accepted + 1 tokens to emit: the accepted drafts, then the target's
};

// Greedy verification. `target` holds the target's greedy choice at each of the k + 1 positions
// (position j's choice follows draft j − 1, or the last emitted token for j = 0).
// InvalidArgument unless target.size() == drafts.size() + 1.
absl::StatusOr<SpeculativeResult> VerifyGreedy(const std::vector<int>& drafts,
                                               const std::vector<int>& target);

// Stochastic verification. `p`: the target's probabilities, [k + 1][vocab]; `q`: the draft
// distributions the drafts were drawn from, [k][vocab] (rows sum to 1 within rounding). The
// draws for position j use (seed, offset + j). InvalidArgument for mismatched sizes, a draft id
// out of range, a draft with q = 0, or a row that is not a distribution (negative, not finite or
// summing to 0).
absl::StatusOr<SpeculativeResult> VerifyStochastic(const std::vector<int>& drafts,
                                                   const std::vector<float>& p,
                                                   const std::vector<float>& q, int64_t vocab,
                                                   uint64_t seed, uint64_t offset);

// The distribution the seeded draw of token_choice.h (kernels/sampling) samples a row from when
// no bias, ban or penalty applies: z = logits / temperature over ids [0, vocab); the
// min(1024, vocab) most likely candidates (ties: lower id first), cut to top_k (≤ 0: off) and
// then to the shortest prefix whose running sum of exp(z − z_max) reaches top_p of the total
// (≥ 1: off), in the kernel's float arithmetic; softmax over what is kept. `p` gets [vocab]
// probabilities (0 outside the kept set). temperature must be > 0.
void SamplingDistribution(const float* logits, int64_t vocab, float temperature, int32_t top_k,
                          float top_p, std::vector<float>* p);

// The uniform draw in [0, 1) that VerifyStochastic uses for (seed, offset, purpose): purpose 0
// accepts or rejects, 1 draws the emitted token. Exposed for tests.
double SpeculativeUniform(uint64_t seed, uint64_t offset, uint64_t purpose);

}  // namespace r1

#endif  // R1_WORKER_ENGINE_SPECULATIVE_SAMPLER_H_
