// OpenAiHttpServer: the coordinator's OpenAI-compatible HTTP/1.1 API (DESIGN §4, §9, §10) on
// Boost.Beast/Asio.
//
//   POST /v1/chat/completions, POST /v1/completions  (JSON or SSE streaming)
//   GET  /v1/models, GET /v1/models/{id}
//   GET  /live (200 always), GET /ready (200 when Generator::Ready(), else 503)
//   GET  /metrics (Prometheus text from the caller's callback, or the registry)
// With API keys configured, every route but /live and /ready needs `Authorization: Bearer <key>`
// (401 otherwise). Every client error is a 4xx with an OpenAI error object.
//
//   OpenAiHttpServerOptions o;  o.address = "0.0.0.0";  o.port = 8000;
//   OpenAiHttpServer server(o, tokenizer, generator, &registry, [&] { return Scrape(); });
//   ASSIGN_OR_RETURN(int port, server.Start());
//   ...
//   server.Stop();   // drains: in-flight responses finish (up to drain_timeout)
//
// Threading: one Asio io_context run by `io_threads` threads does every socket operation
// (accept, read, write; one strand per connection). Generation requests run on their own thread
// from a bounded ElasticThreadPool (at most max_connections): Generator's GenerationHandle::Next
// is a blocking call, so a thread per active generation keeps the I/O threads free for every
// other connection while letting the job wait on the generator and on its client's socket
// (backpressure) without callbacks. Limits: max_connections (more: 503 + Retry-After at once),
// request header and body sizes (431 / 413), read and write timeouts, a per-request deadline.
//
// Thread-safe: Start and Stop from one owner thread; everything else is internal. The tokenizer,
// generator and registry are borrowed and must outlive *this (registry and metrics_text are
// nullable).
#ifndef R1_COORDINATOR_HTTP_OPENAI_HTTP_SERVER_H_
#define R1_COORDINATOR_HTTP_OPENAI_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/core/generator.h"
#include "prometheus/registry.h"

namespace r1::http {

struct OpenAiHttpServerOptions {
  std::string address = "127.0.0.1";    // an explicit IPv4/IPv6 address to bind
  int port = 0;                         // 0 = any free port (Start returns it)
  int io_threads = 2;                   // the I/O thread pool
  int max_connections = 256;            // open connections; also bounds generation threads
  size_t max_body_bytes = 8u << 20;     // larger: 413
  size_t max_header_bytes = 16u << 10;  // larger: 431
  absl::Duration read_timeout = absl::Seconds(30);      // to receive one whole request
  absl::Duration idle_timeout = absl::Seconds(60);      // keep-alive wait for the next request
  absl::Duration write_timeout = absl::Seconds(30);     // one write to the client
  absl::Duration request_timeout = absl::Seconds(600);  // generation deadline per request
  absl::Duration drain_timeout = absl::Seconds(30);     // Stop() waits this long for responses
  // How often a generation checks its client, deadline and the stop flag while it waits.
  absl::Duration poll_interval = absl::Milliseconds(50);
  int retry_after_s = 1;  // Retry-After on 503 / 429
  // API keys; empty = no authentication. See api_keys.h for LoadApiKeysFile.
  std::vector<std::string> api_keys;
  // The tokenizer's EOS added token (ends the output; counted in completion_tokens).
  std::string eos_token = "<｜end▁of▁sentence｜>";
};

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
