// CompletionSession: one generation request — its `n` samples of the same prompt — from a validated
// OpenAiRequest to text deltas, finish reasons and usage, independent of the transport. The gRPC
// Inference service (coordinator/grpc_api) reads it on a thread of its own, blocking in Next:
//
//   CompletionEnv env = ...;  // shared by every session, read-only
//   ASSIGN_OR_RETURN(std::unique_ptr<CompletionSession> s,
//                    CompletionSession::Start(&env, request, request_id, received, deadline));
//   while (!s->finished()) {
//     CompletionStep step = s->Next(absl::Milliseconds(50));
//     send(step.index, step.reasoning, step.content, step.token_ids, step.logprobs);
//     if (step.finish == CompletionFinish::kError) break;  // the whole request failed
//     if (step.finish != CompletionFinish::kNone) ...;     // sample step.index ended
//     if (client_gone) { s->Cancel(); break; }
//   }
//   // then s->usage() (all samples) or s->usage(i), s->finish(i)
//
// The OpenAI HTTP API (coordinator/http/generation_job.h) holds no thread per request: it sets
// SetNotify(callback) and, each time the callback has posted work to the request's connection,
// takes steps with Next(absl::ZeroDuration()) until an empty() one; a timer at the deadline makes
// it take one more (which then fails the session).
//
// Start builds the prompt once (PromptBuilder), checks it against the context, and submits one
// Generator sequence per sample (sample i with seed + i when the request has a seed; without one
// each sample gets its own random seed); if one Submit fails, those already submitted are
// cancelled. Next waits for the next batch of any sample (at most `timeout`; samples are polled in
// turn), detokenizes it (that sample's OutputTracker: UTF-8 safe, stop strings, reasoning split,
// tool calls with tools.h's rules) and returns it as that sample's step. A sample ends on a stop
// token or string (its sequence is then cancelled at once) or on the generator's own end. The whole
// session ends with an error — every other sample cancelled — at the deadline, when a sample's
// sequence fails or is cancelled by the cluster, on an undecodable token, or when the generator
// returned no logprobs for tokens of a request that asked for them. Destroying a session with
// sequences still running cancels them.
//
// Metrics (RequestMetrics) count the request once: running, prompt tokens, time to the first token
// of any sample, end-to-end latency and cancellations; generation tokens and inter-token latency
// count every sample's tokens.
//
// Errors of Start carry the OpenAI error details (api_status.h): the prompt's (InvalidArgument,
// context_length_exceeded) and Generator::Submit's (InvalidArgument -> 400, ResourceExhausted ->
// 429, Unavailable -> 503; any other code becomes Internal -> 500).
//
// A session is used by one thread at a time; Cancel may be called from any thread. The env and
// everything it points to are borrowed and must outlive the session.
#ifndef R1_COORDINATOR_API_COMPLETION_SESSION_H_
#define R1_COORDINATOR_API_COMPLETION_SESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/api/openai_request.h"
#include "coordinator/api/output_tracker.h"
#include "coordinator/api/prompt_builder.h"
#include "coordinator/api/request_metrics.h"
#include "coordinator/api/tools.h"
#include "coordinator/api/usage.h"
#include "coordinator/core/generator.h"

namespace r1::api {

// What every session shares. Immutable while sessions run.
struct CompletionEnv {
  const tok::Tokenizer* tokenizer = nullptr;  // borrowed, non-null
  Generator* generator = nullptr;             // borrowed, non-null
  const PromptBuilder* prompts = nullptr;     // borrowed, non-null
  RequestMetrics* metrics = nullptr;          // borrowed, nullable
  absl::flat_hash_set<int32_t> skip_ids;      // special ids decoded to nothing
  // Ids that end the output as prompts->eos_id() does (a dense config.json's eos_token_id list);
  // honoured unless the request sets ignore_eos.
  std::vector<int32_t> extra_eos_ids;
};

// kToolCalls: a sample that parsed tool calls (tools.h) and then ended as kStop would.
enum class CompletionFinish { kNone, kStop, kLength, kToolCalls, kError };

// What one Next() produced, for one sample.
struct CompletionStep {
  int index = 0;                       // the sample, 0 <= index < n
  std::vector<int32_t> token_ids;      // generated ids consumed by this step (counted in usage)
  std::vector<TokenLogprob> logprobs;  // with request.logprobs: one per token_ids entry
  std::string reasoning;               // new reasoning_content text (chat only)
  std::string content;                 // new answer text
  std::vector<ToolCall> tool_calls;    // tool calls completed in this step (chat with tools)
  // kStop / kLength / kToolCalls: this sample ended; kError: the whole session ended with `error`.
  CompletionFinish finish = CompletionFinish::kNone;
  // With kError: DeadlineExceeded (the deadline passed; code request_timeout), Unavailable (the
  // cluster cancelled the sequence), Internal (the generator failed, an undecodable token, or
  // missing logprobs).
  absl::Status error;

  // Nothing happened: no tokens, no text, no finish.
  bool empty() const {
    return token_ids.empty() && reasoning.empty() && content.empty() && tool_calls.empty() &&
           finish == CompletionFinish::kNone;
  }
};

// "stop" / "length" / "tool_calls" (empty for kNone and kError).
absl::string_view FinishReasonText(CompletionFinish finish);

class CompletionSession {
 public:
  // `env` is borrowed (see the file comment). `received`: when the request arrived (TTFT and
  // end-to-end latency start there).
  static absl::StatusOr<std::unique_ptr<CompletionSession>> Start(const CompletionEnv* env,
                                                                  const OpenAiRequest& request,
                                                                  std::string request_id,
                                                                  absl::Time received,
                                                                  absl::Time deadline);
  ~CompletionSession();  // cancels running sequences
  CompletionSession(const CompletionSession&) = delete;
  CompletionSession& operator=(const CompletionSession&) = delete;

  // Waits up to `timeout` for generated tokens of any sample (ZeroDuration: takes what is there
  // without waiting). An empty() step means the time passed with nothing new. After the session
  // ended, returns empty steps with finish = kError (it failed) or sample 0's finish.
  CompletionStep Next(absl::Duration timeout);
  // Calls `notify` whenever a sample has something for Next (nullptr: no more calls), under
  // GenerationHandle::SetNotify's rules: from any thread, with a handle's lock held (quick; no
  // calls into the session), possibly spuriously, never after SetNotify(nullptr) or the session's
  // destruction returned. A reader without a thread of its own then calls
  // Next(absl::ZeroDuration()) until it returns an empty() step.
  void SetNotify(const std::function<void()>& notify);
  // Stops every sample (client gone, server shutting down); idempotent, any thread.
  void Cancel();

  // Every sample ended, or the session failed.
  bool finished() const { return ended_; }
  int samples() const { return static_cast<int>(samples_.size()); }
  // kNone while sample `index` runs.
  CompletionFinish finish(int index) const { return samples_[index]->finish; }
  // prompt_tokens is the tokenizer's count of the prompt ids (once, whatever n);
  // completion_tokens and reasoning_tokens as OutputTracker counts them, summed over the samples
  // (reasoning_tokens 0 for completions).
  Usage usage() const;
  // The prompt and sample `index`'s tokens.
  Usage usage(int index) const;
  const std::string& request_id() const { return request_id_; }
  int32_t max_new_tokens() const { return max_new_tokens_; }

 private:
  struct Sample {
    Sample(const tok::Tokenizer* tokenizer, detok::OutputOptions options)
        : tracker(tokenizer, std::move(options)) {}
    std::unique_ptr<GenerationHandle> handle;
    OutputTracker tracker;
    bool generation_over = false;  // the generator ended the sequence (or it was cancelled)
    CompletionFinish finish = CompletionFinish::kNone;
    absl::Time last_token = absl::InfinitePast();
    int tool_calls = 0;  // tool calls handed out so far (the next one's index)
  };

  CompletionSession(const CompletionEnv* env, const OpenAiRequest& request, std::string request_id,
                    absl::Time received, absl::Time deadline, int64_t prompt_tokens,
                    int32_t max_new_tokens);
  // Sample `index`'s batch as a step.
  CompletionStep Process(int index, TokenBatch batch);
  // Moves `delta`'s text and tool calls (given ids and indexes) into *step.
  void TakeDelta(detok::OutputDelta* delta, CompletionStep* step);
  // Sample `index` ended without error.
  void EndSample(int index, CompletionFinish finish, CompletionStep* step);
  // The session ends with `error` (set on *step, for sample step->index); the other samples are
  // cancelled.
  void Fail(absl::Status error, CompletionStep* step);
  void CancelRunning();
  void EndSession(const absl::Status& error);
  int64_t CompletionTokens() const;

  const CompletionEnv* env_;
  const std::string request_id_;
  const bool chat_;
  const bool logprobs_;
  const absl::Time received_;
  const absl::Time deadline_;
  const int64_t prompt_tokens_;
  const int32_t max_new_tokens_;
  std::vector<std::unique_ptr<Sample>> samples_;  // fixed after Start
  int next_ = 0;                                  // the sample polled first
  bool first_token_seen_ = false;
  bool ended_ = false;
  absl::Status error_;
};

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_COMPLETION_SESSION_H_
