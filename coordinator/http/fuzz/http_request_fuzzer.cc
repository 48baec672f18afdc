// libFuzzer target for the OpenAI HTTP server's whole request path, in-process and through real
// sockets: one OpenAiHttpServer per process on 127.0.0.1 (two, in fact: one without API keys and
// one with the key "fuzz-key"; an input holding "Bearer " goes to the second), serving a
// FakeGenerator with the r1-tiny tokenizer. Each input is written as raw bytes on a new TCP
// connection and the answer is read until the server closes it:
//   - with "Connection: close" in the input the connection stays open for writing, so a request
//     runs to the end of its response (JSON or SSE) and the server then closes;
//   - otherwise the client half-closes after the bytes, and the server answers what it parsed,
//     sees the end of the stream (a generation sees a client that went away) and closes.
// Properties: never a crash, hang or sanitizer report; the server closes every connection within
// its bounds (read timeout 300 ms, request timeout 5 s: no answer within 30 s is a hang); what it
// sends parses as HTTP/1.x responses, none of them a 5xx (a malformed request is a 4xx, DESIGN
// §10); an exception in a handler or any error-level log line aborts; and afterwards the same
// server still answers a well-formed GET /live with 200.
// Run: scripts/fuzz.sh (FUZZ_TARGETS=http_request_fuzzer).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "common/logging.h"
#include "common/tokenizer/fuzz/fuzz_support.h"
#include "coordinator/http/openai_http_server.h"
#include "coordinator/testing/fake_generator.h"
#include "prometheus/registry.h"
#include "spdlog/sinks/base_sink.h"

namespace {

namespace bhttp = boost::beast::http;
using r1::http::OpenAiHttpServer;
using r1::http::OpenAiHttpServerOptions;
using r1::testing::FakeGenerator;
using r1::testing::FakeScript;

constexpr auto kHangBound = std::chrono::seconds(30);

// Error-level log lines (a handler that threw, ...) are bugs here.
class AbortOnErrorSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level < spdlog::level::err) return;
    std::fprintf(stderr, "fuzz: error logged: %.*s\n", static_cast<int>(msg.payload.size()),
                 msg.payload.data());
    std::abort();
  }
  void flush_() override {}
};

struct Servers {
  Servers() : generator(r1::ServedModel{"r1-tiny", 256, Tiny().id_limit(), 1700000000}) {
    r1::log::Init("http-fuzz", "warn");
    r1::log::SetSinkForTesting(std::make_shared<AbortOnErrorSink>());
    auto think = Tiny().Encode("<think>\nAdd the two numbers.</think>The answer is 42.");
    R1_FUZZ_CHECK(think.ok());
    std::vector<int32_t> tokens = *think;
    tokens.push_back(*Tiny().AddedTokenId("<｜end▁of▁sentence｜>"));
    generator.SetScript([tokens](const r1::GenerationRequest& r) {
      FakeScript s;
      s.tokens = tokens;
      s.tokens_per_batch = 1 + r.prompt_token_ids.size() % 4;
      return s;
    });
    OpenAiHttpServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.io_threads = 2;
    o.max_connections = 256;
    o.max_body_bytes = 64u << 10;
    o.max_header_bytes = 8u << 10;
    o.read_timeout = absl::Milliseconds(300);
    o.idle_timeout = absl::Milliseconds(100);
    o.write_timeout = absl::Seconds(5);
    o.request_timeout = absl::Seconds(5);
    o.drain_timeout = absl::Seconds(1);
    o.linger_timeout = absl::Milliseconds(200);
    open = std::make_unique<OpenAiHttpServer>(o, &Tiny(), &generator, &open_registry, nullptr);
    o.api_keys = {"fuzz-key"};
    keyed = std::make_unique<OpenAiHttpServer>(o, &Tiny(), &generator, &keyed_registry, nullptr);
    auto p1 = open->Start();
    auto p2 = keyed->Start();
    R1_FUZZ_CHECK(p1.ok() && p2.ok());
    open_port = *p1;
    keyed_port = *p2;
  }
  static const r1::tok::Tokenizer& Tiny() { return r1::fuzz::TinyTokenizer(); }

  FakeGenerator generator;
  prometheus::Registry open_registry, keyed_registry;
  std::unique_ptr<OpenAiHttpServer> open, keyed;
  int open_port = 0, keyed_port = 0;
};

Servers& GetServers() {
  static Servers servers;
  return servers;
}

// Writes `bytes` to 127.0.0.1:port (half-closing after them unless `keep_writing_open`) while
// reading, and returns everything the server sent until it closed. Aborts past kHangBound.
std::string Exchange(int port, absl::string_view bytes, bool keep_writing_open) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  R1_FUZZ_CHECK(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  R1_FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  const auto give_up = std::chrono::steady_clock::now() + kHangBound;
  std::string reply;
  size_t sent = 0;
  bool write_closed = false;
  char buf[16384];
  while (true) {
    if (sent == bytes.size() && !write_closed) {
      if (!keep_writing_open) ::shutdown(fd, SHUT_WR);
      write_closed = true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      std::fprintf(stderr, "fuzz: no end of the answer within %lld s (sent %zu of %zu bytes)\n",
                   static_cast<long long>(kHangBound.count()), sent, bytes.size());
      std::abort();
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write_closed ? 0 : POLLOUT)), 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    if ((p.revents & POLLOUT) && !write_closed) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        sent = bytes.size();  // the server closed; stop writing and read what it said
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        reply.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        break;  // closed (or reset after a refusal)
      }
    }
  }
  ::close(fd);
  return reply;
}

// Parses what the server sent as a sequence of HTTP/1.x responses; every complete one must be
// below 500. A truncated last response is fine (a stream cut when the client went away). Returns
// the status of the first response (0: none).
int CheckResponses(absl::string_view reply) {
  int first = 0;
  while (!reply.empty()) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.eager(true);
    parser.body_limit(64u << 20);
    boost::system::error_code ec;
    size_t used = parser.put(boost::asio::buffer(reply.data(), reply.size()), ec);
    size_t total = used;
    while (!ec && !parser.is_done() && used > 0 && total < reply.size()) {
      used = parser.put(boost::asio::buffer(reply.data() + total, reply.size() - total), ec);
      total += used;
    }
    if (ec == bhttp::error::need_more || (!ec && !parser.is_done())) {
      parser.put_eof(ec);  // a body delimited by the close
      if (!ec && parser.is_done()) total = reply.size();
    }
    if (!parser.is_header_done()) {
      if (ec && ec != bhttp::error::need_more && ec != bhttp::error::partial_message) {
        std::fprintf(stderr, "fuzz: unparsable response (%s): %.*s\n", ec.message().c_str(),
                     static_cast<int>(std::min<size_t>(reply.size(), 512)), reply.data());
        std::abort();
      }
      break;
    }
    const int status = static_cast<int>(parser.get().result_int());
    if (first == 0) first = status;
    if (status >= 500) {
      std::fprintf(stderr, "fuzz: %d response: %.*s\n", status,
                   static_cast<int>(std::min<size_t>(reply.size(), 2048)), reply.data());
      std::abort();
    }
    if (!parser.is_done()) break;  // truncated stream
    reply.remove_prefix(total);
  }
  return first;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Servers& s = GetServers();
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const int port = absl::StrContains(input, "Bearer ") ? s.keyed_port : s.open_port;
  CheckResponses(Exchange(port, input, absl::StrContains(input, "Connection: close")));
  const std::string live =
      Exchange(port, "GET /live HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n", true);
  if (CheckResponses(live) != 200) {
    std::fprintf(stderr, "fuzz: GET /live after the input: %s\n", live.c_str());
    std::abort();
  }
  return 0;
}
