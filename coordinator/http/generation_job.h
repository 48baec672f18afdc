// One OpenAI generation request over HTTP: parse/validate the body (openai_request.h) ->
// CompletionSession (prompt, Generator::Submit, detokenization, stop strings, reasoning split) ->
// a JSON response or SSE events written to a ResponseSink.
//
// Runs on its own thread (the server's ElasticThreadPool): GenerationHandle::Next blocks, and
// the writes wait for the socket, so one slow client or sequence never holds an I/O thread.
// Between token batches (at least every `poll_interval`) it checks the client
// (ResponseSink::ClientGone or a failed write) and the server's abort flag, and cancels the
// sequence at once when either says so. A deadline or generator error ends a stream with an error
// event (`data: {"error":{...}}`) and `data: [DONE]`; a non-streaming request gets the error
// object (504 for the deadline, 503 when the cluster cancelled the sequence, 500 for a failed
// generation).
//
// RunGeneration is reentrant; the GenerationContext is shared read-only by all jobs.
#ifndef R1_COORDINATOR_HTTP_GENERATION_JOB_H_
#define R1_COORDINATOR_HTTP_GENERATION_JOB_H_

#include <atomic>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/core/generator.h"
#include "coordinator/http/completion_session.h"
#include "coordinator/http/http_metrics.h"
#include "coordinator/http/openai_request.h"

namespace r1::http {

// Where one request's response goes (implemented by the HTTP session). Called from the job's
// thread only; every call blocks until its bytes are written or the write failed.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // A complete JSON response; retry_after_s > 0 adds Retry-After. False: the client is gone.
  virtual bool SendJson(int http_status, const std::string& body, int retry_after_s) = 0;
  // Starts a 200 text/event-stream response; then SendEvents any number of times; EndEvents.
  virtual bool StartEvents(const std::string& request_id) = 0;
  virtual bool SendEvents(const std::string& events) = 0;
  virtual bool EndEvents() = 0;
  // Non-blocking: true once the client has closed or reset its connection.
  virtual bool ClientGone() = 0;
};

struct GenerationContext {
  CompletionEnv env;  // env.metrics must be non-null here
  absl::Duration request_timeout = absl::Seconds(600);
  absl::Duration poll_interval = absl::Milliseconds(50);
  int retry_after_s = 1;
  const std::atomic<bool>* abort = nullptr;  // nullable; set: cancel and end now
};

// RunGeneration counts its response in metrics->RequestDone itself (499: the client went away).
struct GenerationResult {
  int http_status = 200;      // 499: the client went away before the end
  bool connection_ok = true;  // every write succeeded; the connection may be reused
};

GenerationResult RunGeneration(const GenerationContext& ctx, ApiKind kind, const std::string& body,
                               absl::Time received, ResponseSink* sink);

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_GENERATION_JOB_H_
