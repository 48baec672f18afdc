// CompletionSession: one generation, from a validated OpenAiRequest to text deltas, a finish
// reason and usage, independent of the transport. The OpenAI HTTP API (generation_job.h) drives
// it; the gRPC Inference service can drive it the same way after mapping its proto to an
// OpenAiRequest (openai_request.h):
//
//   CompletionEnv env = ...;  // shared by every session, read-only
//   ASSIGN_OR_RETURN(std::unique_ptr<CompletionSession> s,
//                    CompletionSession::Start(&env, request, request_id, received, deadline));
//   while (true) {
//     CompletionStep step = s->Next(absl::Milliseconds(50));
//     send(step.reasoning, step.content, step.token_ids);
//     if (step.finish != CompletionFinish::kNone) break;   // then s->usage()
//     if (client_gone) { s->Cancel(); break; }
//   }
//
// Start builds the prompt (PromptBuilder), checks it against the context, submits it to the
// Generator and counts it in the metrics. Next waits for the generator's next batch (at most
// `timeout`), detokenizes it (OutputTracker: UTF-8 safe, stop strings, reasoning split) and ends
// the session on a stop token or string (the sequence is then cancelled at once), on the
// generator's own end, at the deadline, or on an error. Destroying a session whose sequence is
// still running cancels it.
//
// Errors of Start carry the OpenAI error details (api_error.h): the prompt's (InvalidArgument,
// context_length_exceeded) and Generator::Submit's (InvalidArgument -> 400, ResourceExhausted ->
// 429, Unavailable -> 503; any other code becomes Internal -> 500).
//
// A session is used by one thread; Cancel may be called from any thread. The env and everything
// it points to are borrowed and must outlive the session.
#ifndef R1_COORDINATOR_HTTP_COMPLETION_SESSION_H_
#define R1_COORDINATOR_HTTP_COMPLETION_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/core/generator.h"
#include "coordinator/http/http_metrics.h"
#include "coordinator/http/openai_request.h"
#include "coordinator/http/openai_response.h"
#include "coordinator/http/output_tracker.h"
#include "coordinator/http/prompt_builder.h"

namespace r1::http {

// What every session shares. Immutable while sessions run.
struct CompletionEnv {
  const tok::Tokenizer* tokenizer = nullptr;  // borrowed, non-null
  Generator* generator = nullptr;             // borrowed, non-null
  const PromptBuilder* prompts = nullptr;     // borrowed, non-null
  HttpMetrics* metrics = nullptr;             // borrowed, nullable
  absl::flat_hash_set<int32_t> skip_ids;      // special ids decoded to nothing
};

enum class CompletionFinish { kNone, kStop, kLength, kError };

// What one Next() produced.
struct CompletionStep {
  std::vector<int32_t> token_ids;  // generated ids consumed by this step (counted in usage)
  std::string reasoning;           // new reasoning_content text (chat only)
  std::string content;             // new answer text
  CompletionFinish finish = CompletionFinish::kNone;
  // With kError: DeadlineExceeded (the deadline passed; code request_timeout), Unavailable (the
  // cluster cancelled the sequence), Internal (the generator failed, or an undecodable token).
  absl::Status error;
};

// "stop" / "length" (empty for kNone and kError).
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
  ~CompletionSession();  // cancels a running sequence
  CompletionSession(const CompletionSession&) = delete;
  CompletionSession& operator=(const CompletionSession&) = delete;

  // Waits up to `timeout` for generated tokens. After a step with finish != kNone, returns empty
  // finished steps.
  CompletionStep Next(absl::Duration timeout);
  // Stops the sequence (client gone, server shutting down); idempotent, any thread.
  void Cancel();

  bool finished() const { return finish_ != CompletionFinish::kNone; }
  CompletionFinish finish() const { return finish_; }
  // prompt_tokens is the tokenizer's count of the prompt ids; completion_tokens and
  // reasoning_tokens as OutputTracker counts them (reasoning_tokens 0 for completions).
  Usage usage() const;
  const std::string& request_id() const { return request_id_; }
  int32_t max_new_tokens() const { return max_new_tokens_; }

 private:
  CompletionSession(const CompletionEnv* env, const OpenAiRequest& request, std::string request_id,
                    absl::Time received, absl::Time deadline, int64_t prompt_tokens,
                    int32_t max_new_tokens);
  void End(CompletionFinish finish, absl::Status error, CompletionStep* step);

  const CompletionEnv* env_;
  const std::string request_id_;
  const bool chat_;
  const absl::Time received_;
  const absl::Time deadline_;
  const int64_t prompt_tokens_;
  const int32_t max_new_tokens_;
  std::unique_ptr<GenerationHandle> handle_;
  OutputTracker tracker_;
  bool generation_over_ = false;  // the generator ended the sequence itself (or was cancelled)
  CompletionFinish finish_ = CompletionFinish::kNone;
  absl::Time last_token_ = absl::InfinitePast();
};

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_COMPLETION_SESSION_H_
