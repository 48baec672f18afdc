// Log-softmax statistics of raw logits for OpenAI logprobs (the model's distribution, before
// temperature, penalties and biases): per row,
//
//   logprob(i) = logit_i − (m + log Σ_j exp(logit_j − m)),   m = max_j logit_j,  j ∈ [0, vocab),
//
// reported for the chosen token and for the top_n most likely ids, ordered by (logit desc, id
// asc) — precisely by (SamplingKey(logit) desc, id asc), as kernels/sampling orders candidates.
// NaN logits are ignored (treated as −inf: never in the sum, logprob −inf, ranked last). A row
// whose m is not finite (a +inf logit, or no logit above −inf) has NaN logprobs; its top ids are
// still ranked.
//
// The reference sums in double; the GPU in float with a block reduction (agreement to 1e-4 for
// logits of moderate size); the top ids agree exactly.
#ifndef R1_KERNELS_LOGPROBS_LOGPROBS_H_
#define R1_KERNELS_LOGPROBS_LOGPROBS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

inline constexpr int32_t kLogprobsMaxTopN = 20;

struct LogprobsParams {
  const float* logits = nullptr;        // [rows][logits_stride] raw f32 logits; not null
  int64_t logits_stride = 0;            // ≥ vocab
  int64_t rows = 0;                     // ≥ 0
  int64_t vocab = 0;                    // normalise over ids [0, vocab); > 0, < 2^31
  const int32_t* chosen = nullptr;      // [rows] token id per row in [0, vocab); not null
  int32_t top_n = 0;                    // 0..kLogprobsMaxTopN alternatives, ≤ vocab
  float* out_chosen_logprob = nullptr;  // [rows]; not null
  int32_t* out_top_ids = nullptr;       // [rows][top_n]; nullable iff top_n == 0
  float* out_top_logprobs = nullptr;    // [rows][top_n]; nullable iff top_n == 0
};

// Checks what the host can see: shapes, top_n's range and the pointers.
absl::Status ValidateLogprobs(const LogprobsParams& p);

// CPU reference; pointers are host memory. Also checks each chosen id is in [0, vocab)
// (InvalidArgument, nothing written).
absl::Status LogprobsReference(const LogprobsParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_LOGPROBS_LOGPROBS_H_
