// GenerationJob: one OpenAI generation request over HTTP, as bytes to send — the body parsed and
// validated (request_parser.h), the generation started (api::CompletionSession: prompt,
// Generator::Submit), its steps formatted as a JSON response or SSE events (openai_response.h,
// logprobs_json.h). No sockets and no threads of its own: the connection (http_session.h) drives
// it from its strand and writes what it returns.
//
//   job = GenerationJob::Start(&ctx, kind, body, received);   // off the I/O threads (CPU work)
//   if (job->streaming()) { write the SSE header; }
//   job->SetNotify(post "pump" to the connection's strand);   // and a timer at job->deadline()
//   pump:  std::string events = job->Poll(kMaxBytes);          // never blocks
//          write(events) and pump again when written; or, when events is empty:
//          job->done() -> streaming: end the stream; otherwise write job->response()
//          job->more() -> pump again now; else wait for the next notification
//   client gone -> job->ClientGone();  server stopping -> job->Abort(), pump
//
// A refused request (bad body, unknown model, Submit's errors) is a job that is done at once with
// its error response. A deadline or generator error ends a stream with an error event
// (`data: {"error":{...}}`) and `data: [DONE]`; a non-streaming request gets the error object (504
// for the deadline, 503 when the cluster cancelled the sequence, 500 for a failed generation).
// Every response is counted once in RequestMetrics::RequestDone (499: the client went away),
// before its last bytes are returned, so that a client that has read it sees it in /metrics.
//
// Ownership: the connection owns its job; the GenerationContext is borrowed (the server's, shared
// read-only by every job) and must outlive it. Thread-compatible: one thread at a time (the
// connection's strand; Start on a request thread before that).
#ifndef R1_COORDINATOR_HTTP_GENERATION_JOB_H_
#define R1_COORDINATOR_HTTP_GENERATION_JOB_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "coordinator/api/completion_session.h"
#include "coordinator/api/openai_request.h"
#include "coordinator/http/logprobs_json.h"
#include "coordinator/http/openai_response.h"
#include "nlohmann/json.hpp"

namespace r1::http {

struct GenerationContext {
  api::CompletionEnv env;  // env.metrics must be non-null here
  absl::Duration request_timeout = absl::Seconds(600);
  int retry_after_s = 1;  // Retry-After on 429 / 503 when the cause gives none
};

// A whole JSON response.
struct JsonResponse {
  int http_status = 200;
  std::string body;
  int retry_after_s = 0;  // > 0: a Retry-After header
};

class GenerationJob {
 public:
  // Parses `body`, validates it and starts the generation. CPU work (JSON, tokenization); does not
  // wait for the generator. `ctx` is borrowed and must outlive the job.
  static std::unique_ptr<GenerationJob> Start(const GenerationContext* ctx, api::ApiKind kind,
                                              const std::string& body, absl::Time received);
  ~GenerationJob();  // cancels what still runs
  GenerationJob(const GenerationJob&) = delete;
  GenerationJob& operator=(const GenerationJob&) = delete;

  // The response is an event stream (a started streaming request): its header goes out first,
  // then what Poll returns. Otherwise it is response(), once done().
  bool streaming() const { return stream_; }
  const std::string& request_id() const { return id_; }
  absl::Time deadline() const { return deadline_; }
  // api::CompletionSession::SetNotify (nothing when the job never started).
  void SetNotify(const std::function<void()>& notify);

  // Takes what the generation produced without waiting. Streaming: returns the events to send
  // (the opening chunks first; about `max_bytes` at most; empty when there is nothing new), the
  // last ones — usage, `data: [DONE]` or an error event — when the generation ended. Otherwise
  // collects the output and returns "".
  std::string Poll(size_t max_bytes);
  // More steps may be waiting: Poll stopped at its limit.
  bool more() const { return more_; }
  // The response is complete: streaming, Poll has returned its last events; otherwise response()
  // is set. Also after ClientGone.
  bool done() const { return done_; }
  const JsonResponse& response() const { return response_; }
  // The client went away: cancels the generation and counts 499; done() afterwards.
  void ClientGone();
  // The server is stopping: the next Poll ends the generation with server_shutting_down
  // (streaming: an error event and [DONE]; otherwise a 503 response).
  void Abort() { aborted_ = true; }
  // The status counted for the request: 499 when the client went away, else the response's.
  int http_status() const { return http_status_; }

 private:
  // One choice's output as it accumulates (non-streaming) and its logprobs state.
  struct Choice {
    explicit Choice(int top) : text_logprobs(top) {}
    std::string reasoning, content;
    std::vector<api::ToolCall> tool_calls;
    nlohmann::json chat_logprobs = nlohmann::json::array();  // entries of logprobs.content
    CompletionLogprobs text_logprobs;
  };

  GenerationJob(const GenerationContext* ctx, api::ApiKind kind);
  // Ends the job with `status` as an error response (not streaming).
  void Refuse(const absl::Status& status);
  // One step: the events of a stream, or appended to its choice.
  std::string Take(const api::CompletionStep& step);
  // The logprobs a streamed chunk of `step` carries (null without logprobs or tokens).
  nlohmann::json StepLogprobs(const api::CompletionStep& step, Choice* choice) const;
  // The generation ended (failure_ set or not): the last events or the response.
  std::string Finish();

  const GenerationContext* ctx_;
  const api::ApiKind kind_;
  api::OpenAiRequest request_;
  std::unique_ptr<api::CompletionSession> session_;
  std::string id_;
  ResponseMeta meta_;
  absl::Time deadline_ = absl::InfiniteFuture();
  bool stream_ = false;  // a started streaming request
  std::vector<Choice> choices_;
  bool opened_ = false;  // the opening chunks were returned
  bool aborted_ = false;
  bool more_ = false;
  bool done_ = false;
  absl::Status failure_;
  JsonResponse response_;
  int http_status_ = 0;
};

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_GENERATION_JOB_H_
