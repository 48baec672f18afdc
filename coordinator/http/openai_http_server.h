// OpenAiHttpServer: the coordinator's OpenAI-compatible HTTP/1.1 API (DESIGN §4, §9, §10) on
// Boost.Beast/Asio.
//
//   POST /v1/chat/completions, POST /v1/completions  (JSON or SSE streaming)
//   GET  /v1/models, GET /v1/models/{id}
//   GET  /live (200 always), GET /ready and GET /health (200 when Generator::Ready(), else 503),
//   GET  /version ({"version": ...})
//   GET  /metrics (Prometheus text from the caller's callback, or the registry)
// With API keys configured, every route but /live, /ready, /health and /version needs
// `Authorization: Bearer <key>` (401 otherwise). Every client error is a 4xx with an OpenAI error
// object.
//
//   OpenAiHttpServerOptions o;  o.address = "0.0.0.0";  o.port = 8000;
//   OpenAiHttpServer server(o, tokenizer, generator, &registry, [&] { return Scrape(); });
//   ASSIGN_OR_RETURN(int port, server.Start());
//   ...
//   server.Stop();   // drains: in-flight responses finish (up to drain_timeout)
//
// Threading: one Asio io_context run by `io_threads` threads does every socket operation
// (accept, read, write; one strand per connection); `request_threads` threads parse generation
// requests, build their prompts and submit them. A generation in flight holds no thread: the
// generator's readiness callback (GenerationHandle::SetNotify) wakes its connection's strand,
// which takes the new tokens and writes them; a client that does not read holds back only its
// own stream (write_timeout). So the thread count does not grow with the streams (10,000 idle
// streams: io_threads + request_threads). Limits (http_server_options.h): max_connections (more:
// 503 + Retry-After at once) and max_connections_per_client (more: 429 at once), both answered
// through ConnectionRejector so that no refused connection goes unanswered; request header and
// body sizes (431 / 413, the 413 sent before the body is read, then a bounded lingering close);
// a read timeout for a whole request, write timeouts, a per-request deadline.
//
// Thread-safe: Start and Stop from one owner thread; everything else is internal. The tokenizer,
// generator and registry are borrowed and must outlive *this (registry and metrics_text are
// nullable).
#ifndef R1_COORDINATOR_HTTP_OPENAI_HTTP_SERVER_H_
#define R1_COORDINATOR_HTTP_OPENAI_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/core/generator.h"
#include "coordinator/http/http_server_options.h"
#include "prometheus/registry.h"

namespace r1::http {

class OpenAiHttpServer {
 public:
  // `tokenizer`, `generator`: borrowed, non-null, must outlive *this. `registry`: nullable
  // (no metrics), borrowed. `metrics_text`: nullable; GET /metrics returns its result (with a
  // null callback, the registry serialized; with neither, 404).
  OpenAiHttpServer(OpenAiHttpServerOptions options, const tok::Tokenizer* tokenizer,
                   Generator* generator, prometheus::Registry* registry,
                   std::function<std::string()> metrics_text);
  ~OpenAiHttpServer();  // Stop()
  OpenAiHttpServer(const OpenAiHttpServer&) = delete;
  OpenAiHttpServer& operator=(const OpenAiHttpServer&) = delete;

  // Binds, listens and starts the threads; returns the bound port. Errors: bad options, a bad
  // tokenizer (no BOS / EOS), metric names already registered with another type, bind failures.
  absl::StatusOr<int> Start();
  // Graceful: stops accepting, closes idle connections, lets in-flight requests finish for up to
  // drain_timeout, then cancels what is left and joins every thread. Idempotent.
  void Stop();

  int port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_OPENAI_HTTP_SERVER_H_
