// Engine: a single-process DeepSeek-V3 engine over a ForwardModel (the CPU model, or the CUDA
// backend's). It runs many sequences per
// step with continuous batching: every running sequence that is decoding contributes one token,
// and prefill chunks fill the rest of the per-step token budget (decode first, DESIGN §7).
// When KV blocks run out, the most recently admitted sequence is preempted and later recomputed
// from its tokens. With prefix caching, an admitted sequence reuses the cached full KV blocks its
// tokens start with and computes only the rest. Sequences end on EOS (unless ignore_eos), a stop
// id, max_new_tokens, the context limit, or Cancel; before min_tokens, EOS and stop ids cannot be
// sampled. The model chooses each token (ForwardModel::ForwardAndChoose: penalties, logit_bias, the
// seeded draw keyed by the sequence position, logprobs) wherever its logits are.
//
// With EngineOptions::speculative_tokens and a model with an MTP module, sequences without
// penalties, logit_bias or logprobs decode speculatively (spec §10, engine_speculative.cc): the
// MTP module drafts up to k tokens after each step, the next step verifies them in one k + 1
// token item, the accepted prefix and the target's next token are emitted and the rejected
// positions rolled back. Greedy output is the same token for token as without speculation;
// sampled output (stochastic verification) follows the same distribution, reproducibly for a
// seed, but not the same tokens as a run without speculation. In an expert-parallel group
// (lockstep) the MTP layer's experts are spread over the ranks too, and every step runs the same
// number of MTP passes on every rank.
//
// Not thread-safe: one thread owns the Engine and calls Submit/Cancel/Step (the worker's step
// loop; tests).
#ifndef R1_WORKER_ENGINE_ENGINE_H_
#define R1_WORKER_ENGINE_ENGINE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/sampling_params.h"
#include "worker/engine/speculative_sampler.h"
#include "worker/kv_cache/kv_cache.h"
#include "worker/model/cpu_model.h"

namespace r1 {

struct EngineOptions {
  int max_step_tokens = 256;  // token budget per step (decodes + prefill chunks)
  int max_running = 64;       // sequences holding KV at once
  int kv_blocks = 512;        // blocks of kBlockTokens tokens per layer
  bool bf16_kv = false;       // round cached values to bf16
  int64_t valid_vocab = 0;    // ids ≥ this are never sampled; 0 = vocab_size
  // Run the model every step even with nothing to compute: in an expert-parallel group every
  // rank must join every MoE exchange of every step (DESIGN §3, lockstep). With speculation, every
  // step also runs exactly speculative_tokens MTP passes (empty where there is nothing to draft),
  // so every rank of the group must use the same speculative_tokens.
  bool lockstep = false;
  // Context length in tokens (prompt + generated); 0 or more than the model's
  // max_position_embeddings means the model's.
  int64_t max_model_len = 0;
  // Prefix caching on full KV blocks (kv_cache.h): a sequence whose tokens start with blocks
  // already computed (by any sequence, live or finished, until evicted) reuses them and computes
  // only the rest. The reused rows are those a run without it computes (logits differ at most in
  // rounding, as between two chunkings of a prompt); off, every prompt is computed in full.
  bool prefix_caching = true;
  // MTP speculative decoding (spec §10): up to this many draft tokens per
  // sequence and step (0, the default: off). Also off when the model runs no MTP module
  // (ForwardModel::mtp_layers() == 0; a CpuModel needs LoadOptions::load_mtp). The cache then
  // holds one more layer, the MTP layer's rows, in the same blocks.
  int speculative_tokens = 0;
};

// What the last Step did (for metrics). Times are host wall time; a backend that runs
// asynchronously finishes its work inside Forward (the logits are on the host after it).
struct EngineStepStats {
  bool ran_forward = false;  // false: nothing to compute (and not in lockstep)
  bool forward_failed = false;
  int sequences = 0;           // sequences in the forward batch
  int64_t prefill_tokens = 0;  // prompt tokens computed (not those reused from cached blocks)
  int64_t decode_tokens = 0;
  double schedule_seconds = 0;  // cancellations, decode and prefill selection, KV reservation
  double forward_seconds = 0;
  double sample_seconds = 0;  // appending the chosen tokens and finishing sequences
  // How the forward's kernels were launched (ForwardModel::last_decode_graph; nullopt for a model
  // without CUDA graphs).
  std::optional<DecodeGraphAction> decode_graph;
  // Speculative decoding: sequences that verified drafts, drafts verified, drafts accepted, and
  // the MTP forward passes' time (catching up and drafting).
  int speculative_sequences = 0;
  int64_t draft_tokens = 0;
  int64_t accepted_drafts = 0;
  std::vector<int> accepted_per_sequence;  // per verifying sequence, its accepted drafts
  double draft_seconds = 0;
  // The first MTP pass of the step that failed (its sequences stop speculating; the output
  // stays exact). In an expert-parallel group that is mostly a failed exchange, e.g. DataLoss
  // when the ranks' passes drifted apart, and the group's communicator is aborted.
  absl::Status draft_status;
};

struct SequenceRequest {
  uint64_t id = 0;
  std::vector<int> prompt;
  SamplingParams sampling;
  int max_new_tokens = 16;
  std::vector<int> stop_ids;  // in addition to the config's EOS
  bool ignore_eos = false;    // EOS does not end the sequence (it may still be sampled)
  // Until this many tokens were generated, EOS and stop_ids are masked out of sampling.
  int min_tokens = 0;
  // With EngineOptions::speculative_tokens: false opts this request out. Only requests without
  // penalties, logit_bias or logprobs speculate, and only once min_tokens are generated; sampled
  // ones (temperature > 0) are verified stochastically.
  bool speculative = true;
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };

struct SequenceOutput {
  uint64_t id = 0;
  std::vector<int> new_tokens;
  FinishReason finish = FinishReason::kNone;
  std::string error;
  // With SamplingParams::logprobs: one per new token (its id, logprob and alternatives).
  std::vector<TokenChoice> logprobs;
};

class Engine {
 public:
  // Runs a CpuModel on `weights`.
  Engine(std::shared_ptr<const ModelWeights> weights, ModelOptions model, EngineOptions options);
  // Runs any backend's model (not null); options.kv_blocks must match a device cache's size.
  Engine(std::unique_ptr<ForwardModel> model, EngineOptions options);

  // Queues a sequence. InvalidArgument for empty/out-of-range prompts, bad sampling params,
  // max_new_tokens ≤ 0, a prompt that leaves no room in the context, or a duplicate id.
  absl::Status Submit(SequenceRequest request);
  // Ends the sequence at the next step (reported with FinishReason::kCancelled). Unknown ids are
  // ignored.
  void Cancel(uint64_t id);
  bool Idle() const { return sequences_.empty(); }
  int free_kv_blocks() const { return cache_.free_blocks(); }
  int kv_blocks() const { return cache_.num_blocks(); }
  // Tokens known but not yet in the KV cache (prompts waiting or mid-prefill).
  int64_t queued_tokens() const;
  int running() const;
  int waiting() const;
  // Tokens a sequence may hold: EngineOptions::max_model_len bounded by the model's context.
  int64_t context_limit() const;
  uint64_t preemptions() const { return preemptions_; }
  // Prefix caching, cumulative over admissions (a preempted sequence's re-admission counts
  // again): tokens looked up (every token of the admitted sequence) and tokens reused from
  // cached blocks instead of computed. Both 0 with prefix_caching off.
  uint64_t prefix_cache_queries() const { return prefix_cache_queries_; }
  uint64_t prefix_cache_hits() const { return prefix_cache_hits_; }
  uint64_t forward_errors() const { return forward_errors_; }
  const EngineStepStats& last_step() const { return last_step_; }
  // Draft tokens per speculating sequence and step in effect (0: speculation off).
  int speculative_tokens() const { return spec_k_; }
  // Speculative decoding, cumulative: sequence-steps that verified drafts, drafts verified and
  // accepted, and tokens those steps emitted (accepted drafts plus the target's token; before
  // truncation at a stop). Acceptance rate = accepted / drafts; tokens per verifying step =
  // emitted / steps.
  uint64_t speculative_steps() const { return spec_steps_; }
  uint64_t speculative_drafts() const { return spec_drafts_; }
  uint64_t speculative_accepted() const { return spec_accepted_; }
  uint64_t speculative_emitted() const { return spec_emitted_; }

  // Runs one step. Returns the sequences that produced a token or finished.
  absl::StatusOr<std::vector<SequenceOutput>> Step();

  ForwardModel& model() { return *model_; }
  const PagedKvCache& kv_cache() const { return cache_; }

 private:
  struct Sequence {
    SequenceRequest req;
    std::vector<int> tokens;  // prompt + generated
    int generated = 0;
    KvSequence kv;
    bool admitted = false;
    bool cancelled = false;
    uint64_t admit_order = 0;
    // With a penalty: the distinct ids of prompt and output with their output counts, and
    // where each id is in `history`.
    std::vector<std::pair<int32_t, int32_t>> history;
    std::unordered_map<int32_t, size_t> history_index;
    TokenChoiceSpec choice;  // the step's spec (bias and bans rebuilt each step)
    // Speculative decoding (engine_speculative.cc). `mtp`: the sequence speculates, so its MTP
    // rows are kept: valid for slots [0, mtp_length); `mtp_hidden` holds the main model's final
    // hidden states of positions [mtp_length, kv.length) until their slots run. `drafts`: the
    // MTP module's guesses of the tokens after tokens.back().
    bool mtp = false;
    int64_t mtp_length = 0;
    std::vector<float> mtp_hidden;
    std::vector<int> drafts;
  };

  // Forgets the MTP rows and drafts (the sequence's KV was released).
  static void ResetSpeculation(Sequence& s);
  // Drafts the next step may verify for `s` within `budget` tokens (0: a plain decode).
  int DraftsToVerify(const Sequence& s, int budget) const;
  // Drafts the MTP module may make for `s` now (0: none).
  int DraftBudget(const Sequence& s) const;
  // The forward and the choices: `chosen[i]` for items with one row to choose, `verified[i]` the
  // verification of items that verify `verify[i]` drafts (greedy, or stochastic for a sampled
  // sequence). When every verifying item is plain greedy, ChooseAndVerifyGreedy; else the logits
  // come to the host.
  absl::Status ForwardAndVerify(std::vector<ForwardItem>& items, const std::vector<int>& verify,
                                std::vector<TokenChoice>* chosen,
                                std::vector<SpeculativeResult>* verified);
  // ForwardAndVerify through ForwardAndChoose: the model chooses every row's token (argmax for the
  // verifying rows) and only the ids reach the host.
  absl::Status ChooseAndVerifyGreedy(std::vector<ForwardItem>& items,
                                     const std::vector<int>& verify,
                                     std::vector<TokenChoice>* chosen,
                                     std::vector<SpeculativeResult>* verified);
  // After a step: runs the MTP slots of the step's speculating sequences (their new cached
  // positions, `hidden` from the forward pass) and drafts for those decoding. In lockstep it
  // runs exactly spec_k_ MTP passes, empty where there is nothing to draft.
  void Draft(const std::vector<ForwardItem>& items, const std::vector<uint64_t>& item_ids,
             const std::vector<std::vector<float>>& hidden);

  // One MTP pass (ForwardModel::MtpDraft: greedy drafts); in lockstep a pass refused before its
  // exchange is replaced by an empty one.
  absl::Status MtpPass(const std::vector<MtpItem>& slots, std::vector<int>* drafts,
                       std::vector<std::vector<float>>* hidden);

  // The spec of a sequence's next token.
  const TokenChoiceSpec* ChoiceFor(Sequence& s) const;
  static void Remember(Sequence& s, int32_t id, int32_t output_count);

  void Finish(Sequence& s, FinishReason reason, std::vector<SequenceOutput>* out);
  // Preempts the most recently admitted sequence admitted after `after_order`; false if none.
  bool PreemptOne(uint64_t after_order);

  std::unique_ptr<ForwardModel> model_;
  EngineOptions options_;
  PagedKvCache cache_;
  std::map<uint64_t, Sequence> sequences_;  // every live sequence
  std::deque<uint64_t> waiting_;            // not admitted, FIFO (preempted go to the front)
  uint64_t admit_counter_ = 0;
  uint64_t preemptions_ = 0;
  uint64_t prefix_cache_queries_ = 0;
  uint64_t prefix_cache_hits_ = 0;
  uint64_t forward_errors_ = 0;
  EngineStepStats last_step_;
  int spec_k_ = 0;
  uint64_t spec_steps_ = 0;
  uint64_t spec_drafts_ = 0;
  uint64_t spec_accepted_ = 0;
  uint64_t spec_emitted_ = 0;
};

}  // namespace r1

#endif  // R1_WORKER_ENGINE_ENGINE_H_
