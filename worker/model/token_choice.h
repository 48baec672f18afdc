// Token choice: how a model turns the last row of logits of a sequence into its next token, with
// one semantics for every backend (spec §14, DESIGN §7):
//
//   1. logprobs, when asked: log-softmax of the raw row over the valid vocabulary, the chosen
//      token's value and the top_logprobs most likely ids (OpenAI's definition: before
//      temperature, penalties and logit_bias) — kernels/logprobs;
//   2. processing, in place: logit_bias and bans (−inf), Hugging Face's repetition penalty over
//      the sequence's prompt and output ids, OpenAI's frequency and presence penalties over its
//      output ids, ids ≥ valid_vocab masked — kernels/logits_process;
//   3. the draw: greedy, or temperature → top-k → top-p → an exponential race keyed by
//      (seed, offset), so a (seed, position) pair replays exactly — kernels/sampling.
//
// The CPU runs the kernels' references on host rows (ChooseTokensOnHost); the CUDA backend runs
// the kernels on its device-resident logits (worker/backend/cuda_token_chooser.h) from the same
// PackedTokenChoices, so both choose the same token from the same logits.
#ifndef R1_WORKER_MODEL_TOKEN_CHOICE_H_
#define R1_WORKER_MODEL_TOKEN_CHOICE_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace r1 {

// Largest top_logprobs a request may ask for (OpenAI's bound).
inline constexpr int kMaxTopLogprobs = 20;

// What to do with one sequence's row. Plain data; `history` is borrowed.
struct TokenChoiceSpec {
  float temperature = 0.0f;  // ≤ 0: greedy
  int32_t top_k = 0;         // ≤ 0: off
  float top_p = 1.0f;        // ≥ 1: off
  uint64_t seed = 0;
  uint64_t offset = 0;  // varies per step (the engine passes the sequence position)
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  // Distinct ids of the sequence's prompt and output with their output counts (0: prompt only).
  // Read only when a penalty is on; must then be non-null and outlive the choice.
  const std::vector<std::pair<int32_t, int32_t>>* history = nullptr;
  // Added to the row before the draw: logit_bias entries and bans (−inf; e.g. EOS before
  // min_tokens). Ids may repeat (biases add).
  std::vector<std::pair<int32_t, float>> bias;
  bool logprobs = false;
  int32_t top_logprobs = 0;  // 0..kMaxTopLogprobs, with logprobs

  bool penalized() const {
    return presence_penalty != 0.0f || frequency_penalty != 0.0f || repetition_penalty != 1.0f;
  }
};

// The chosen token, and its logprobs when the spec asked for them.
struct TokenChoice {
  int32_t id = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // (id, logprob), most likely first
};

// A batch of specs flattened into the kernels' per-row arrays and CSR lists (host memory; the
// CUDA backend uploads these arrays as they are).
struct PackedTokenChoices {
  int64_t rows = 0;
  std::vector<float> temperature, top_p;
  std::vector<int32_t> top_k;
  std::vector<uint64_t> seed, offset;
  bool any_penalty = false;  // else the penalty arrays and history CSR are empty
  std::vector<float> presence_penalty, frequency_penalty, repetition_penalty;
  std::vector<int32_t> history_offsets, history_ids, history_output_counts;
  bool any_bias = false;  // else the bias CSR is empty
  std::vector<int32_t> bias_offsets, bias_ids;
  std::vector<float> bias_values;
  // Rows that want logprobs, in row order, and the widest top_logprobs among them.
  std::vector<int32_t> logprob_rows;
  int32_t top_n = 0;
};

// The bounds every layer below the API shares (the engine's SamplingParams and the spec):
// presence and frequency penalties in [-2, 2] (OpenAI), repetition penalty in (0, 2] (Hugging
// Face), top_logprobs in [0, kMaxTopLogprobs]. InvalidArgument naming the field otherwise.
absl::Status ValidatePenaltiesAndLogprobs(float presence_penalty, float frequency_penalty,
                                          float repetition_penalty, int top_logprobs);

// Checks one spec against the vocabulary (ids in range, ValidatePenaltiesAndLogprobs, history
// present when penalized). InvalidArgument naming the field otherwise.
absl::Status ValidateTokenChoiceSpec(const TokenChoiceSpec& spec, int64_t vocab);

// Checks `specs` (one per row: not null, each as ValidateTokenChoiceSpec says) and flattens
// them; the first error otherwise.
absl::StatusOr<PackedTokenChoices> PackTokenChoices(
    const std::vector<const TokenChoiceSpec*>& specs, int64_t vocab);

// Chooses one token per row of `logits` ([specs.size()][stride] f32, modified in place by the
// processing) with the kernels' CPU references. `vocab` is the row width used, `valid_vocab`
// (≤ vocab) the ids that may be chosen and over which logprobs are normalised.
absl::Status ChooseTokensOnHost(float* logits, int64_t stride, int64_t vocab, int64_t valid_vocab,
                                const std::vector<const TokenChoiceSpec*>& specs,
                                std::vector<TokenChoice>* out);

}  // namespace r1

#endif  // R1_WORKER_MODEL_TOKEN_CHOICE_H_
