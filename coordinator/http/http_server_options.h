// OpenAiHttpServerOptions: the OpenAI HTTP server's address, threads and limits (DESIGN §10:
// every queue bounded, overload answered at once, every request with a deadline), and their
// validation. r1-coordinator fills them from its flags (--max_connections,
// --max_connections_per_client, --read_timeout_s, --request_timeout_s, --drain_timeout_s, ...).
//
// A plain value type; ValidateOpenAiHttpServerOptions is a pure function.
#ifndef R1_COORDINATOR_HTTP_HTTP_SERVER_OPTIONS_H_
#define R1_COORDINATOR_HTTP_HTTP_SERVER_OPTIONS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace r1::http {

struct OpenAiHttpServerOptions {
  std::string address = "127.0.0.1";  // an explicit IPv4/IPv6 address to bind
  int port = 0;                       // 0 = any free port (Start returns it)
  int io_threads = 2;                 // the I/O thread pool: every socket operation
  // Parse requests, build their prompts and submit them (CPU work kept off the I/O threads).
  int request_threads = 2;
  // Open connections; more get 503 at once. Each holds at most one generation request, which
  // holds no thread while it waits for tokens.
  int max_connections = 256;
  // Open connections from one client address; more get 429 at once. 0 = no per-client limit
  // (behind a proxy every client shares the proxy's address).
  int max_connections_per_client = 0;
  size_t max_body_bytes = 8u << 20;     // larger: 413, sent before the body is read
  size_t max_header_bytes = 16u << 10;  // larger: 431
  // To receive one whole request (header and body), from the connection's start or from the
  // first byte of a later request on a kept-alive connection. A silent or slow connection is
  // closed when it runs out.
  absl::Duration read_timeout = absl::Seconds(30);
  absl::Duration idle_timeout = absl::Seconds(60);      // keep-alive wait for the next request
  absl::Duration write_timeout = absl::Seconds(30);     // one write to the client
  absl::Duration request_timeout = absl::Seconds(600);  // generation deadline per request
  absl::Duration drain_timeout = absl::Seconds(30);     // Stop() waits this long for responses
  // Closing a connection after an error response (413, 503, ...) while the client may still be
  // sending: the server stops writing, then reads and discards for at most this long and this
  // many bytes before it closes, so that the client reads the response instead of a reset.
  absl::Duration linger_timeout = absl::Seconds(2);
  size_t linger_max_bytes = 128u << 20;
  int retry_after_s = 1;  // Retry-After on 503 / 429 when the cause gives no better value
  // API keys; empty = no authentication. See common/api_keys.h for LoadApiKeysFile.
  std::vector<std::string> api_keys;
  // The tokenizer's EOS added token (ends the output; counted in completion_tokens).
  std::string eos_token = "<｜end▁of▁sentence｜>";
  // More ids that end the output like eos_token (a dense config.json's eos_token_id list).
  std::vector<int32_t> extra_eos_ids;
  // A chat template to render instead of the tokenizer's (e.g. one that renders `tools`), and
  // where it came from (for errors); empty = the tokenizer's.
  std::string chat_template;
  std::string chat_template_origin;
};

// OK, or InvalidArgument naming the first field out of range and its accepted range.
absl::Status ValidateOpenAiHttpServerOptions(const OpenAiHttpServerOptions& options);

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_HTTP_SERVER_OPTIONS_H_
