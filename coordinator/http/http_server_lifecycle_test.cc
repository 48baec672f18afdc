// OpenAiHttpServer over a FakeGenerator, through real sockets, around the requests themselves:
// generator errors (at submit and mid-stream), deadlines, client disconnects (Cancel), API keys,
// the service endpoints and metrics, keep-alive and HTTP/1.0, 64 concurrent streams, the
// connection limit and shutdown. Requests and responses: http_server_test.cc.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/version.h"
#include "coordinator/testing/http_test_util.h"
#include "gtest/gtest.h"

namespace r1::http {
namespace {

using json = nlohmann::json;
using testing::ChatBody;
using testing::ExpectError;
using testing::HttpConnection;
using testing::HttpReply;
using testing::Ids;
using testing::MetricsShow;
using testing::Post;
using testing::Request;
using testing::SseData;
using testing::TestServer;

constexpr char kChat[] = "/v1/chat/completions";
constexpr char kCompletions[] = "/v1/completions";

TEST(HttpServerTest, SubmitErrorsMapToStatuses) {
  TestServer s;
  s.Script(Ids("x"));
  struct Case {
    absl::Status status;
    int http;
    bool retry_after;
  };
  const Case cases[] = {
      {absl::InvalidArgumentError("bad prompt"), 400, false},
      {absl::ResourceExhaustedError("queue full"), 429, true},
      {absl::UnavailableError("no group"), 503, true},
      {absl::InternalError("boom"), 500, false},
      {absl::FailedPreconditionError("odd"), 500, false},
  };
  for (const Case& c : cases) {
    s.generator().SetSubmitError(c.status);
    for (const char* extra : {"", R"("stream":true)"}) {
      HttpReply r = Post(s.port(), kChat, ChatBody(extra));
      EXPECT_EQ(r.status, c.http) << c.status << " " << r.body;
      const json j = r.Json();
      ASSERT_TRUE(j.contains("error")) << r.body;
      EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
      EXPECT_EQ(!r.Header("retry-after").empty(), c.retry_after) << c.status;
    }
  }
  s.generator().SetSubmitError(absl::OkStatus());
  EXPECT_EQ(Post(s.port(), kChat, ChatBody()).status, 200);
}

TEST(HttpServerTest, GeneratorErrorMidStream) {
  TestServer s;
  s.Script(Ids("partial answer", false), absl::ZeroDuration(), GenerationEnd::kError,
           "worker w1 died");
  HttpReply r = Post(s.port(), kChat, ChatBody(R"("stream":true)"));
  ASSERT_EQ(r.status, 200);
  const std::vector<std::string> data = SseData(r.body);
  ASSERT_GE(data.size(), 3u);
  EXPECT_EQ(data.back(), "[DONE]");
  const json err = json::parse(data[data.size() - 2]);
  ASSERT_TRUE(err.contains("error")) << data[data.size() - 2];
  EXPECT_EQ(err["error"]["message"], "worker w1 died");
  EXPECT_EQ(err["error"]["type"], "server_error");
  // Not streaming: a 5xx error object.
  r = Post(s.port(), kChat, ChatBody());
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.Json()["error"]["message"], "worker w1 died");
  // The cluster cancelling a sequence (e.g. draining) is 503.
  s.Script(Ids("x", false), absl::ZeroDuration(), GenerationEnd::kCancelled, "group draining");
  r = Post(s.port(), kChat, ChatBody());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Json()["error"]["code"], "generation_cancelled");
  // And the server goes on serving.
  s.Script(Ids("Fine.</think>ok"));
  EXPECT_EQ(Post(s.port(), kChat, ChatBody()).status, 200);
}

TEST(HttpServerTest, DeadlineEndsRequests) {
  OpenAiHttpServerOptions o;
  o.request_timeout = absl::Milliseconds(300);
  TestServer s(o);
  s.Forever(absl::Milliseconds(5));
  const absl::Time t0 = absl::Now();
  HttpReply r = Post(s.port(), kChat, ChatBody());
  ExpectError(r, 504, nullptr, "request_timeout", "deadline");
  EXPECT_LT(absl::Now() - t0, absl::Seconds(3));
  r = Post(s.port(), kChat, ChatBody(R"("stream":true)"));
  ASSERT_EQ(r.status, 200);
  const std::vector<std::string> data = SseData(r.body);
  ASSERT_GE(data.size(), 2u);
  EXPECT_EQ(data.back(), "[DONE]");
  EXPECT_EQ(json::parse(data[data.size() - 2])["error"]["code"], "request_timeout");
  EXPECT_TRUE(s.generator().WaitIdle(absl::Seconds(2)));
  EXPECT_EQ(s.generator().cancelled(), 2);
}

TEST(HttpServerTest, ClientDisconnectCancelsPromptly) {
  OpenAiHttpServerOptions o;
  TestServer s(o);
  s.Forever(absl::Milliseconds(5));
  {
    // Streaming: read a few events, then go away.
    HttpConnection c(s.port());
    ASSERT_TRUE(c.WriteRaw(absl::StrCat(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: ",
        ChatBody(R"("stream":true)").size(), "\r\n\r\n", ChatBody(R"("stream":true)"))));
    int status = 0;
    const std::string got = c.ReadStreamUntil("reasoning_content", &status);
    EXPECT_EQ(status, 200);
    EXPECT_NE(got.find("reasoning_content"), std::string::npos);
    const absl::Time closed = absl::Now();
    c.Close();
    ASSERT_TRUE(s.generator().WaitCancelled(1, absl::Seconds(5)));
    EXPECT_LT(absl::Now() - closed, absl::Seconds(1));
  }
  {
    // Not streaming: the client gives up while the answer is being generated.
    HttpConnection c(s.port());
    const std::string body = ChatBody();
    ASSERT_TRUE(c.WriteRaw(absl::StrCat(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: ",
        body.size(), "\r\n\r\n", body)));
    while (s.generator().active() == 0) absl::SleepFor(absl::Milliseconds(5));
    const absl::Time closed = absl::Now();
    c.Close();
    ASSERT_TRUE(s.generator().WaitCancelled(2, absl::Seconds(5)));
    EXPECT_LT(absl::Now() - closed, absl::Seconds(1));
  }
  EXPECT_TRUE(s.generator().WaitIdle(absl::Seconds(2)));
  // Metrics saw the cancellations and nothing is left running.
  EXPECT_TRUE(MetricsShow(s.port(), "r1_request_cancellations_total 2"));
  EXPECT_TRUE(MetricsShow(s.port(), "r1_http_requests_running 0"));
  EXPECT_TRUE(
      MetricsShow(s.port(), R"(r1_requests_total{code="499",route="/v1/chat/completions"} 2)"));
}

TEST(HttpServerTest, ApiKeys) {
  OpenAiHttpServerOptions o;
  o.api_keys = {"sk-first-key", "sk-second"};
  TestServer s(o);
  s.Script(Ids("a</think>b"));
  auto with = [](const std::string& auth) {
    std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"}};
    if (!auth.empty()) h.emplace_back("Authorization", auth);
    return h;
  };
  HttpReply r = Request(s.port(), "POST", kChat, ChatBody(), with(""));
  ExpectError(r, 401, nullptr, "invalid_api_key", "no key");
  EXPECT_EQ(r.Header("www-authenticate"), "Bearer");
  ExpectError(Request(s.port(), "POST", kChat, ChatBody(), with("Bearer sk-first")), 401, nullptr,
              "invalid_api_key", "prefix of a key");
  ExpectError(Request(s.port(), "POST", kChat, ChatBody(), with("Bearer sk-first-key2")), 401,
              nullptr, "invalid_api_key", "longer");
  ExpectError(Request(s.port(), "POST", kChat, ChatBody(), with("Basic sk-first-key")), 401,
              nullptr, "invalid_api_key", "scheme");
  ExpectError(Request(s.port(), "GET", "/v1/models", "", with("")), 401, nullptr, "invalid_api_key",
              "models");
  ExpectError(Request(s.port(), "GET", "/metrics", "", with("")), 401, nullptr, "invalid_api_key",
              "metrics");
  // Unknown routes also need the key (no route discovery without one).
  ExpectError(Request(s.port(), "GET", "/v1/x", "", with("")), 401, nullptr, "invalid_api_key",
              "unknown route");
  EXPECT_EQ(Request(s.port(), "POST", kChat, ChatBody(), with("Bearer sk-first-key")).status, 200);
  EXPECT_EQ(Request(s.port(), "POST", kChat, ChatBody(), with("bearer  sk-second ")).status, 200);
  EXPECT_EQ(Request(s.port(), "GET", "/v1/models", "", with("Bearer sk-second")).status, 200);
  EXPECT_EQ(Request(s.port(), "GET", "/live", "", with("")).status, 200);
  EXPECT_EQ(Request(s.port(), "GET", "/ready", "", with("")).status, 200);
  EXPECT_EQ(Request(s.port(), "GET", "/health", "", with("")).status, 200);
  EXPECT_EQ(Request(s.port(), "GET", "/version", "", with("")).status, 200);
  EXPECT_EQ(s.generator().submitted(), 2);
}

TEST(HttpServerTest, ModelsLiveReadyMetrics) {
  TestServer s;
  s.Script(Ids("x</think>y"));
  HttpReply r = Request(s.port(), "GET", "/v1/models");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["object"], "list");
  EXPECT_EQ(r.Json()["data"][0]["id"], "r1-tiny");
  EXPECT_EQ(r.Json()["data"][0]["object"], "model");
  EXPECT_EQ(r.Json()["data"][0]["owned_by"], "r1serve");
  r = Request(s.port(), "GET", "/v1/models/r1-tiny");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["id"], "r1-tiny");
  EXPECT_EQ(Request(s.port(), "GET", "/v1/models/r1%2Dtiny?x=1").status, 200);
  EXPECT_EQ(Request(s.port(), "GET", "/live").status, 200);
  EXPECT_EQ(Request(s.port(), "GET", "/ready").status, 200);
  EXPECT_EQ(Request(s.port(), "GET", "/health").status, 200);
  r = Request(s.port(), "GET", "/version");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["version"], kVersion);
  s.generator().SetReady(false);
  EXPECT_EQ(Request(s.port(), "GET", "/health").status, 503);
  ExpectError(Request(s.port(), "GET", "/ready"), 503, nullptr, "not_ready", "not ready");
  EXPECT_EQ(Request(s.port(), "GET", "/live").status, 200);
  s.generator().SetReady(true);

  ASSERT_EQ(Post(s.port(), kChat, ChatBody()).status, 200);
  ASSERT_EQ(Post(s.port(), kChat, ChatBody(R"("n":30)")).status, 400);
  r = Request(s.port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(absl::StrCat("r1_generation_tokens_total ", Ids("x</think>y").size())),
            std::string::npos);
  EXPECT_TRUE(absl::StartsWith(r.Header("content-type"), "text/plain; version=0.0.4"));
  for (const char* want : {
           R"(r1_requests_total{code="200",route="/v1/chat/completions"} 1)",
           R"(r1_requests_total{code="400",route="/v1/chat/completions"} 1)",
           R"(r1_requests_total{code="503",route="/ready"} 1)",
           R"(r1_request_rejections_total{reason="invalid_request"} 1)",
           "r1_time_to_first_token_seconds_count 1",
           "r1_inter_token_latency_seconds_count",
           "r1_e2e_request_latency_seconds_count 1",
           "r1_http_requests_running 0",
           "r1_prompt_tokens_total",
       }) {
    EXPECT_NE(r.body.find(want), std::string::npos) << want << "\n" << r.body;
  }
}

TEST(HttpServerTest, KeepAliveExpectContinueAndHttp10) {
  TestServer s;
  s.Script(Ids("r</think>c"));
  HttpConnection c(s.port());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.Send("POST", kChat, ChatBody()).status, 200);
    EXPECT_EQ(c.Send("POST", kChat, ChatBody(R"("stream":true)")).status, 200);
    EXPECT_EQ(c.Send("POST", kChat, ChatBody(R"("max_tokens":0)")).status, 400);
    EXPECT_EQ(c.Send("GET", "/v1/models", "").status, 200);
  }
  // Expect: 100-continue.
  HttpConnection e(s.port());
  const std::string body = ChatBody();
  ASSERT_TRUE(
      e.WriteRaw(absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                              "Content-Length: ",
                              body.size(), "\r\n\r\n")));
  char buf[64] = {};
  boost::system::error_code ec;
  const size_t n = e.socket().read_some(boost::asio::buffer(buf, 25), ec);
  EXPECT_EQ(std::string(buf, n), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(e.WriteRaw(body));
  EXPECT_EQ(e.Read().status, 200);
  // HTTP/1.0 streaming: no chunked encoding; the body ends with the connection.
  HttpConnection old(s.port());
  const std::string sb = ChatBody(R"("stream":true)");
  ASSERT_TRUE(
      old.WriteRaw(absl::StrCat("POST /v1/chat/completions HTTP/1.0\r\n"
                                "Content-Type: application/json\r\nContent-Length: ",
                                sb.size(), "\r\n\r\n", sb)));
  HttpReply r = old.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("transfer-encoding"), "");
  EXPECT_EQ(SseData(r.body).back(), "[DONE]");
}

TEST(HttpServerTest, SixtyFourConcurrentStreams) {
  OpenAiHttpServerOptions o;
  o.io_threads = 2;
  TestServer s(o);
  const std::vector<int32_t> tokens =
      Ids("Thinking about it for a while.</think>\n\nHere is a longer answer, token by token.");
  s.Script(tokens, absl::Milliseconds(2));
  constexpr int kStreams = 64;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      const std::string body = ChatBody(R"("stream":true,"stream_options":{"include_usage":true})",
                                        absl::StrCat("client ", i));
      HttpReply r = Post(s.port(), kChat, body);
      if (r.status != 200) return;
      const std::vector<std::string> data = SseData(r.body);
      if (data.size() < 3 || data.back() != "[DONE]") return;
      const json usage = json::parse(data[data.size() - 2])["usage"];
      std::string content;
      for (size_t k = 0; k + 2 < data.size(); ++k) {
        const json d = json::parse(data[k])["choices"][0]["delta"];
        if (d.contains("content")) content += d["content"].get<std::string>();
      }
      if (usage["completion_tokens"] == tokens.size() &&
          content == "\n\nHere is a longer answer, token by token.") {
        ++ok;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kStreams);
  EXPECT_EQ(s.generator().submitted(), kStreams);
  EXPECT_TRUE(s.generator().WaitIdle(absl::Seconds(2)));
}

TEST(HttpServerTest, ConnectionLimitAnswers503) {
  OpenAiHttpServerOptions o;
  o.max_connections = 2;
  TestServer s(o);
  s.Forever(absl::Milliseconds(5));
  HttpConnection a(s.port()), b(s.port());
  ASSERT_TRUE(a.connected() && b.connected());
  absl::SleepFor(absl::Milliseconds(100));  // both accepted
  HttpReply r = Request(s.port(), "GET", "/v1/models");
  ExpectError(r, 503, nullptr, "too_many_connections", "over the limit");
  EXPECT_EQ(r.Header("retry-after"), "1");
  a.Close();
  b.Close();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(Request(s.port(), "GET", "/v1/models").status, 200);
}

TEST(HttpServerTest, StopDrainsThenCancels) {
  OpenAiHttpServerOptions o;
  o.drain_timeout = absl::Milliseconds(300);
  auto s = std::make_unique<TestServer>(o);
  s->Forever(absl::Milliseconds(5));
  std::thread client([&] {
    HttpReply r = Post(s->port(), kChat, ChatBody(R"("stream":true)"));
    EXPECT_EQ(r.status, 200);
    const std::vector<std::string> data = SseData(r.body);
    ASSERT_GE(data.size(), 2u);
    EXPECT_EQ(json::parse(data[data.size() - 2])["error"]["code"], "server_shutting_down");
  });
  while (s->generator().active() == 0) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time t0 = absl::Now();
  s->server().Stop();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  client.join();
  EXPECT_EQ(s->generator().active(), 0);
  EXPECT_EQ(Request(s->port(), "GET", "/live").status, 0);  // no longer listening
}

}  // namespace
}  // namespace r1::http
