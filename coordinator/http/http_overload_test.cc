// The HTTP server under overload, through real sockets: option validation, the per-client
// connection counter, every connection over a limit answered (far more than could linger before),
// the per-client limit with silent connections, the read timeout for a whole request, the 413
// sent before the body and read by a client that writes the whole body first, and the Retry-After
// a refused Submit carries.
#include <poll.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/client_connection_counter.h"
#include "coordinator/testing/http_test_util.h"
#include "gtest/gtest.h"

namespace r1::http {
namespace {

using json = nlohmann::json;
using tcp = boost::asio::ip::tcp;
using testing::ChatBody;
using testing::FakeGenerator;
using testing::HttpConnection;
using testing::HttpReply;
using testing::Request;
using testing::TestServer;

constexpr char kChat[] = "/v1/chat/completions";

// A raw connection to 127.0.0.1:port from `source` (any 127/8 address: one "client" each).
class RawClient {
 public:
  RawClient(int port, const std::string& source) : socket_(ioc_) {
    boost::system::error_code ec;
    socket_.open(tcp::v4(), ec);
    if (!ec) socket_.bind({boost::asio::ip::make_address(source), 0}, ec);
    if (!ec) {
      socket_.connect(
          {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
    }
    connected_ = !ec;
  }
  bool connected() const { return connected_; }
  bool Write(const std::string& bytes) {
    boost::system::error_code ec;
    boost::asio::write(socket_, boost::asio::buffer(bytes), ec);
    return !ec;
  }
  // Everything until the server closes (or `limit` passes).
  std::string ReadAll(absl::Duration limit = absl::Seconds(10)) {
    std::string out;
    const absl::Time end = absl::Now() + limit;
    char buf[4096];
    while (absl::Now() < end) {
      boost::system::error_code ec;
      if (socket_.available(ec) == 0) {
        pollfd p{socket_.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 20) == 0) continue;
      }
      const size_t n = socket_.read_some(boost::asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
    return out;
  }
  // The status and JSON body of a Connection: close response.
  static std::pair<int, json> Parse(const std::string& raw) {
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return {0, json()};
    const size_t body = raw.find("\r\n\r\n");
    return {std::stoi(raw.substr(9, 3)),
            json::parse(body == std::string::npos ? "" : raw.substr(body + 4), nullptr, false)};
  }
  tcp::socket& socket() { return socket_; }
  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 private:
  boost::asio::io_context ioc_;
  tcp::socket socket_;
  bool connected_ = false;
};

std::string ModelsRequest() { return "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"; }

TEST(HttpServerOptionsTest, DefaultsPassAndEachBadFieldIsNamed) {
  EXPECT_TRUE(ValidateOpenAiHttpServerOptions({}).ok());
  struct Bad {
    const char* field;
    std::function<void(OpenAiHttpServerOptions&)> set;
  };
  const std::vector<Bad> bad = {
      {"port", [](OpenAiHttpServerOptions& o) { o.port = 70000; }},
      {"io_threads", [](OpenAiHttpServerOptions& o) { o.io_threads = 0; }},
      {"max_connections", [](OpenAiHttpServerOptions& o) { o.max_connections = 0; }},
      {"max_connections_per_client",
       [](OpenAiHttpServerOptions& o) { o.max_connections_per_client = -1; }},
      {"max_body_bytes", [](OpenAiHttpServerOptions& o) { o.max_body_bytes = 0; }},
      {"max_header_bytes", [](OpenAiHttpServerOptions& o) { o.max_header_bytes = 100; }},
      {"retry_after_s", [](OpenAiHttpServerOptions& o) { o.retry_after_s = 0; }},
      {"read_timeout", [](OpenAiHttpServerOptions& o) { o.read_timeout = absl::ZeroDuration(); }},
      {"read_timeout",
       [](OpenAiHttpServerOptions& o) { o.read_timeout = absl::InfiniteDuration(); }},
      {"idle_timeout", [](OpenAiHttpServerOptions& o) { o.idle_timeout = -absl::Seconds(1); }},
      {"write_timeout", [](OpenAiHttpServerOptions& o) { o.write_timeout = absl::ZeroDuration(); }},
      {"request_timeout",
       [](OpenAiHttpServerOptions& o) { o.request_timeout = absl::ZeroDuration(); }},
      {"drain_timeout", [](OpenAiHttpServerOptions& o) { o.drain_timeout = -absl::Seconds(1); }},
      {"linger_timeout",
       [](OpenAiHttpServerOptions& o) { o.linger_timeout = absl::InfiniteDuration(); }},
      {"request_threads", [](OpenAiHttpServerOptions& o) { o.request_threads = 0; }},
      {"api_keys",
       [](OpenAiHttpServerOptions& o) {
         o.api_keys = {"k", ""};
       }},
  };
  for (const Bad& b : bad) {
    OpenAiHttpServerOptions o;
    b.set(o);
    const absl::Status s = ValidateOpenAiHttpServerOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << b.field;
    EXPECT_NE(s.message().find(b.field), absl::string_view::npos) << s;
  }
  OpenAiHttpServerOptions zero_ok;
  zero_ok.drain_timeout = absl::ZeroDuration();
  zero_ok.max_connections_per_client = 0;
  zero_ok.linger_timeout = absl::ZeroDuration();
  EXPECT_TRUE(ValidateOpenAiHttpServerOptions(zero_ok).ok());
  // Start refuses them too.
  OpenAiHttpServerOptions o;
  o.read_timeout = absl::ZeroDuration();
  FakeGenerator generator(ServedModel{"m", 4096, 1000, 0});
  OpenAiHttpServer server(o, &testing::TinyTokenizer(), &generator, nullptr, nullptr);
  EXPECT_EQ(server.Start().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClientConnectionCounterTest, CountsPerClientUpToTheLimit) {
  ClientConnectionCounter c(2);
  EXPECT_TRUE(c.TryAcquire("10.0.0.1"));
  EXPECT_TRUE(c.TryAcquire("10.0.0.1"));
  EXPECT_FALSE(c.TryAcquire("10.0.0.1"));
  EXPECT_TRUE(c.TryAcquire("10.0.0.2"));
  EXPECT_EQ(c.count("10.0.0.1"), 2);
  c.Release("10.0.0.1");
  EXPECT_TRUE(c.TryAcquire("10.0.0.1"));
  c.Release("10.0.0.1");
  c.Release("10.0.0.1");
  c.Release("10.0.0.2");
  c.Release("10.0.0.9");  // unknown: ignored
  EXPECT_EQ(c.clients(), 0u);
  ClientConnectionCounter unlimited(0);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(unlimited.TryAcquire("a"));
  EXPECT_EQ(unlimited.count("a"), 1000);
}

TEST(HttpOverloadTest, SubmitRetryAfterPayloadBecomesTheHeader) {
  TestServer s;
  absl::Status busy = absl::ResourceExhaustedError("overloaded: estimated queue wait 40 s");
  busy.SetPayload(kRetryAfterPayload, absl::Cord("7"));
  s.generator().SetSubmitError(busy);
  HttpReply r = testing::Post(s.port(), kChat, ChatBody());
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("retry-after"), "7");
  EXPECT_EQ(r.Json()["error"]["type"], "rate_limit_error");
  // Without the payload: the server's default.
  s.generator().SetSubmitError(absl::ResourceExhaustedError("queue full"));
  r = testing::Post(s.port(), kChat, ChatBody());
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("retry-after"), "1");
}

TEST(HttpOverloadTest, EveryConnectionOverTheLimitIsAnswered) {
  OpenAiHttpServerOptions o;
  o.max_connections = 2;
  TestServer s(o);
  RawClient a(s.port(), "127.0.0.1"), b(s.port(), "127.0.0.1");
  ASSERT_TRUE(a.connected() && b.connected());
  absl::SleepFor(absl::Milliseconds(100));  // both accepted and registered
  // 300 more at once, all refused while the earlier ones linger: each gets its 503.
  constexpr int kOver = 300;
  std::vector<std::unique_ptr<RawClient>> over;
  for (int i = 0; i < kOver; ++i) {
    over.push_back(std::make_unique<RawClient>(s.port(), "127.0.0.1"));
    ASSERT_TRUE(over.back()->connected()) << i;
  }
  for (auto& c : over) c->Write(ModelsRequest());
  int answered = 0;
  for (auto& c : over) {
    auto [status, body] = RawClient::Parse(c->ReadAll());
    if (status == 503 && body["error"]["code"] == "too_many_connections") ++answered;
  }
  EXPECT_EQ(answered, kOver);
  a.Close();
  b.Close();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(Request(s.port(), "GET", "/v1/models").status, 200);
}

TEST(HttpOverloadTest, OneClientsSilentConnectionsDoNotLockOutOthers) {
  OpenAiHttpServerOptions o;
  o.max_connections = 20;
  o.max_connections_per_client = 5;
  TestServer s(o);
  // Client 127.0.0.2 opens 40 connections and says nothing: 5 are held, 35 refused with 429.
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 40; ++i) {
    silent.push_back(std::make_unique<RawClient>(s.port(), "127.0.0.2"));
    ASSERT_TRUE(silent.back()->connected()) << i;
  }
  int refused = 0;
  for (int i = 5; i < 40; ++i) {
    const std::string raw = silent[i]->ReadAll(absl::Seconds(5));
    auto [status, body] = RawClient::Parse(raw);
    if (status == 429 && body["error"]["code"] == "too_many_client_connections" &&
        raw.find("Retry-After: 1\r\n") != std::string::npos) {
      ++refused;
    }
  }
  EXPECT_EQ(refused, 35);
  // Everyone else is served meanwhile.
  for (const char* other : {"127.0.0.1", "127.0.0.3"}) {
    RawClient c(s.port(), other);
    ASSERT_TRUE(c.Write("GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(RawClient::Parse(c.ReadAll()).first, 200) << other;
  }
  // A held connection closed frees a place for the same client.
  silent[0]->Close();
  absl::SleepFor(absl::Milliseconds(100));
  RawClient again(s.port(), "127.0.0.2");
  ASSERT_TRUE(again.Write("GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(RawClient::Parse(again.ReadAll()).first, 200);
}

TEST(HttpOverloadTest, ReadTimeoutBoundsAWholeRequest) {
  OpenAiHttpServerOptions o;
  o.read_timeout = absl::Milliseconds(400);
  TestServer s(o);
  // Silent: closed after the read timeout.
  RawClient silent(s.port(), "127.0.0.1");
  absl::Time t0 = absl::Now();
  EXPECT_EQ(silent.ReadAll(), "");
  absl::Duration took = absl::Now() - t0;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(3));
  // A header over 300 ms and then a body over 300 ms: each within the timeout, the whole
  // request not. The connection closes without an answer once the 400 ms are up.
  RawClient slow(s.port(), "127.0.0.1");
  t0 = absl::Now();
  std::thread writer([&] {
    const std::string request =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" +
        std::string(20, 'x');
    const size_t header = request.size() - 20;
    for (size_t at = 0; at < request.size();) {
      const size_t piece = at < header ? header / 4 + 1 : 5;
      if (!slow.Write(request.substr(at, piece))) return;
      at += piece;
      absl::SleepFor(absl::Milliseconds(75));
    }
  });
  EXPECT_EQ(slow.ReadAll(), "");
  took = absl::Now() - t0;
  writer.join();
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Milliseconds(550));
  // A kept-alive connection may idle longer than the read timeout between requests.
  OpenAiHttpServerOptions k;
  k.read_timeout = absl::Milliseconds(400);
  k.idle_timeout = absl::Seconds(5);
  TestServer ks(k);
  HttpConnection c(ks.port());
  EXPECT_EQ(c.Send("GET", "/v1/models", "").status, 200);
  absl::SleepFor(absl::Milliseconds(800));
  EXPECT_EQ(c.Send("GET", "/v1/models", "").status, 200);
}

TEST(HttpOverloadTest, OversizedBodyIs413BeforeTheBodyAndReadByAClientWritingItAll) {
  OpenAiHttpServerOptions o;
  o.max_body_bytes = 1u << 20;
  TestServer s(o);
  constexpr size_t kBody = 64u << 20;
  const std::string header = absl::StrCat(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: ",
      kBody, "\r\n\r\n");
  // The 413 comes right after the header, with no body sent.
  {
    RawClient c(s.port(), "127.0.0.1");
    ASSERT_TRUE(c.Write(header));
    const absl::Time t0 = absl::Now();
    auto [status, body] = RawClient::Parse(c.ReadAll(absl::Seconds(1)));
    EXPECT_EQ(status, 413);
    EXPECT_EQ(body["error"]["code"], "request_too_large");
    EXPECT_LT(absl::Now() - t0, absl::Seconds(1));
  }
  // A client that writes the whole 64 MiB body before reading still reads the 413.
  {
    RawClient c(s.port(), "127.0.0.1");
    ASSERT_TRUE(c.Write(header));
    ASSERT_TRUE(c.Write(std::string(kBody, 'x')));
    auto [status, body] = RawClient::Parse(c.ReadAll());
    EXPECT_EQ(status, 413);
    EXPECT_EQ(body["error"]["code"], "request_too_large");
  }
}

TEST(HttpOverloadTest, LingeringAfterAnErrorIsBounded) {
  OpenAiHttpServerOptions o;
  o.max_body_bytes = 1024;
  o.linger_timeout = absl::Milliseconds(300);
  TestServer s(o);
  RawClient c(s.port(), "127.0.0.1");
  ASSERT_TRUE(c.Write(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n"));
  // Keep sending forever: the server stops reading within the linger time and closes.
  const absl::Time t0 = absl::Now();
  const std::string chunk(1 << 16, 'x');
  while (c.Write(chunk) && absl::Now() - t0 < absl::Seconds(10)) {
  }
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

}  // namespace
}  // namespace r1::http
