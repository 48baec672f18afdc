// Test helpers for coordinator/http: a started OpenAiHttpServer over a FakeGenerator with the tiny
// tokenizer (tiny_tokenizer.h), and a small blocking HTTP/1.1 client (Boost.Beast) with SSE
// parsing. Header-only; for tests only (target r1_http_test_util). Not thread-safe unless stated:
// each client call opens its own connection.
#ifndef R1_COORDINATOR_TESTING_HTTP_TEST_UTIL_H_
#define R1_COORDINATOR_TESTING_HTTP_TEST_UTIL_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "coordinator/http/openai_http_server.h"
#include "coordinator/testing/fake_generator.h"
#include "coordinator/testing/tiny_tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "prometheus/registry.h"

namespace r1::testing {

struct HttpReply {
  int status = 0;                              // 0: no response (connection failed or closed)
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  nlohmann::json Json() const {
    return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  }
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A blocking HTTP/1.1 connection to 127.0.0.1:port.
class HttpConnection {
 public:
  explicit HttpConnection(int port) : socket_(ioc_) {
    boost::system::error_code ec;
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
                    ec);
    connected_ = !ec;
  }
  bool connected() const { return connected_; }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  // Sends one request and reads the whole response (chunked bodies included).
  HttpReply Send(const std::string& method, const std::string& target, const std::string& body,
                 const std::vector<std::pair<std::string, std::string>>& headers = {
                     {"Content-Type", "application/json"}}) {
    namespace bhttp = boost::beast::http;
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    if (method != "GET" || !body.empty()) req.prepare_payload();
    boost::system::error_code ec;
    bhttp::write(socket_, req, ec);
    if (ec) return {};
    return Read();
  }

  // Writes raw bytes.
  bool WriteRaw(const std::string& bytes) {
    boost::system::error_code ec;
    boost::asio::write(socket_, boost::asio::buffer(bytes), ec);
    return !ec;
  }

  // Reads one whole response.
  HttpReply Read() {
    namespace bhttp = boost::beast::http;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64u << 20);
    boost::system::error_code ec;
    bhttp::read(socket_, buffer_, parser, ec);
    if (ec && !parser.is_header_done()) return {};
    HttpReply r;
    r.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get()) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    r.body = parser.get().body();
    return r;
  }

  // Reads the response header, then body bytes until `until` appears in them (or the stream
  // ends); returns what was read of the body.
  std::string ReadStreamUntil(const std::string& until, int* status) {
    namespace bhttp = boost::beast::http;
    parser_.emplace();
    boost::system::error_code ec;
    bhttp::read_header(socket_, buffer_, *parser_, ec);
    if (ec) return "";
    *status = static_cast<int>(parser_->get().result_int());
    std::string got;
    char buf[4096];
    while (got.find(until) == std::string::npos) {
      parser_->get().body().data = buf;
      parser_->get().body().size = sizeof(buf);
      bhttp::read_some(socket_, buffer_, *parser_, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) break;
      got.append(buf, sizeof(buf) - parser_->get().body().size);
      if (parser_->is_done()) break;
    }
    return got;
  }

  void Close() {
    boost::system::error_code ec;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser_;
  bool connected_ = false;
};

// One request on a new connection.
inline HttpReply Request(int port, const std::string& method, const std::string& target,
                         const std::string& body = "",
                         const std::vector<std::pair<std::string, std::string>>& headers = {
                             {"Content-Type", "application/json"}}) {
  HttpConnection c(port);
  if (!c.connected()) return {};
  return c.Send(method, target, body, headers);
}

inline HttpReply Post(int port, const std::string& target, const std::string& body) {
  return Request(port, "POST", target, body);
}

// The payloads of an SSE body ("data: X\n\n" events), in order; "[DONE]" included as is.
inline std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  for (absl::string_view event : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    if (absl::StartsWith(event, "data: ")) out.emplace_back(event.substr(6));
  }
  return out;
}

// A FakeGenerator and an OpenAiHttpServer serving it with the tiny tokenizer.
class TestServer {
 public:
  explicit TestServer(http::OpenAiHttpServerOptions options = {}, int64_t max_model_len = 4096)
      : generator_(ServedModel{kModelId, max_model_len, TinyTokenizer().id_limit(), 1700000000}),
        registry_(std::make_shared<prometheus::Registry>()) {
    options.port = 0;
    server_ = std::make_unique<http::OpenAiHttpServer>(options, &TinyTokenizer(), &generator_,
                                                       registry_.get(), nullptr);
    auto port = server_->Start();
    EXPECT_TRUE(port.ok()) << port.status();
    port_ = port.ok() ? *port : 0;
  }
  ~TestServer() { server_->Stop(); }

  int port() const { return port_; }
  FakeGenerator& generator() { return generator_; }
  http::OpenAiHttpServer& server() { return *server_; }
  // Every generation produces `tokens` (then ends as `end`).
  void Script(std::vector<int32_t> tokens, absl::Duration delay = absl::ZeroDuration(),
              GenerationEnd end = GenerationEnd::kStop, std::string error = "") {
    generator_.SetScript([=](const GenerationRequest&) {
      FakeScript s;
      s.tokens = tokens;
      s.delay = delay;
      s.end = end;
      s.error = error;
      return s;
    });
  }
  void Forever(absl::Duration delay) {
    generator_.SetScript([=](const GenerationRequest&) {
      FakeScript s;
      s.tokens = Ids(" more", false);
      s.never_ends = true;
      s.delay = delay;
      return s;
    });
  }

 private:
  FakeGenerator generator_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<http::OpenAiHttpServer> server_;
  int port_ = 0;
};

inline std::string ChatBody(const std::string& extra = "", const std::string& content = "Hi") {
  nlohmann::json b = {{"model", kModelId},
                      {"messages", {{{"role", "user"}, {"content", content}}}}};
  std::string s = b.dump();
  if (!extra.empty()) s = s.substr(0, s.size() - 1) + "," + extra + "}";
  return s;
}

// Checks an OpenAI error object: {"error":{"message","type","param","code"}}.
inline void ExpectError(const HttpReply& r, int status, const char* param, const char* code,
                        const std::string& what) {
  EXPECT_EQ(r.status, status) << what << "\n" << r.body;
  EXPECT_EQ(r.Header("content-type"), "application/json") << what;
  const nlohmann::json j = r.Json();
  ASSERT_TRUE(j.is_object() && j.contains("error")) << what << "\n" << r.body;
  const nlohmann::json& e = j["error"];
  ASSERT_EQ(e.size(), 4u) << what << "\n" << r.body;
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << what;
  EXPECT_EQ(e["type"], status == 429   ? "rate_limit_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error")
      << what;
  if (param == nullptr) {
    EXPECT_TRUE(e["param"].is_null()) << what << "\n" << r.body;
  } else {
    EXPECT_EQ(e["param"], param) << what << "\n" << r.body;
  }
  if (code == nullptr) {
    EXPECT_TRUE(e["code"].is_null()) << what << "\n" << r.body;
  } else {
    EXPECT_EQ(e["code"], code) << what << "\n" << r.body;
  }
}

// True once GET /metrics contains `text` (jobs count their end just after their last write).
inline bool MetricsShow(int port, const std::string& text) {
  std::string body;
  for (int i = 0; i < 200; ++i) {
    body = Request(port, "GET", "/metrics").body;
    if (body.find(text) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ADD_FAILURE() << "no '" << text << "' in\n" << body;
  return false;
}

}  // namespace r1::testing

#endif  // R1_COORDINATOR_TESTING_HTTP_TEST_UTIL_H_
