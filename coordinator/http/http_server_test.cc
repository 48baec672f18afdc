// OpenAiHttpServer over a FakeGenerator, through real sockets: malformed and out-of-range
// requests (exact status and error object each), responses and SSE streams, generator errors,
// deadlines, client disconnects (Cancel), API keys, limits, metrics, 64 concurrent streams, and
// shutdown.
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
using testing::HttpConnection;
using testing::HttpReply;
using testing::Ids;
using testing::Post;
using testing::Request;
using testing::SseData;
using testing::TestServer;

constexpr char kChat[] = "/v1/chat/completions";
constexpr char kCompletions[] = "/v1/completions";

// Checks an OpenAI error object: {"error":{"message","type","param","code"}}.
void ExpectError(const HttpReply& r, int status, const char* param, const char* code,
                 const std::string& what) {
  EXPECT_EQ(r.status, status) << what << "\n" << r.body;
  EXPECT_EQ(r.Header("content-type"), "application/json") << what;
  const json j = r.Json();
  ASSERT_TRUE(j.is_object() && j.contains("error")) << what << "\n" << r.body;
  const json& e = j["error"];
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
bool MetricsShow(int port, const std::string& text) {
  std::string body;
  for (int i = 0; i < 200; ++i) {
    body = Request(port, "GET", "/metrics").body;
    if (body.find(text) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ADD_FAILURE() << "no '" << text << "' in\n" << body;
  return false;
}

std::string Msgs(const std::string& messages_json) {
  return absl::StrCat(R"({"model":"r1-tiny","messages":)", messages_json, "}");
}
std::string Comp(const std::string& extra) {
  return absl::StrCat(R"({"model":"r1-tiny",)", extra, "}");
}

struct BadCase {
  const char* route;
  std::string body;
  int status;
  const char* param;  // nullptr = null
  const char* code;   // nullptr = null
};

std::vector<BadCase> BadBodies() {
  const std::string user = R"([{"role":"user","content":"hi"}])";
  const std::string long_text(30000, 'x');  // far more than 64 tokens
  std::string long_ids = "[";
  for (int i = 0; i < 100; ++i) absl::StrAppend(&long_ids, i == 0 ? "" : ",", 5);
  long_ids += "]";
  std::string deep(200, '[');
  deep += std::string(200, ']');
  return {
      // Not JSON, or not an object.
      {kChat, "", 400, nullptr, "invalid_json"},
      {kChat, "{", 400, nullptr, "invalid_json"},
      {kChat, "[]", 400, nullptr, "invalid_json"},
      {kChat, "null", 400, nullptr, "invalid_json"},
      {kChat, "42", 400, nullptr, "invalid_json"},
      {kChat, R"({"model":"r1-tiny",})", 400, nullptr, "invalid_json"},
      {kChat, R"({"model":"r1-tiny","temperature":NaN})", 400, nullptr, "invalid_json"},
      {kChat, absl::StrCat(R"({"model":"r1-tiny","messages":)", deep, "}"), 400, nullptr,
       "invalid_json"},
      {kChat, "{\"model\":\"r1-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
       400, nullptr, "invalid_json"},
      // Required fields and their types.
      {kChat, R"({"model":"r1-tiny"})", 400, "messages", "missing_required_parameter"},
      {kChat, absl::StrCat(R"({"messages":)", user, "}"), 400, "model",
       "missing_required_parameter"},
      {kChat, absl::StrCat(R"({"model":5,"messages":)", user, "}"), 400, "model", "invalid_type"},
      {kChat, Msgs(R"("hi")"), 400, "messages", "invalid_type"},
      {kChat, Msgs("[]"), 400, "messages", "invalid_value"},
      {kChat, Msgs("[5]"), 400, "messages[0]", "invalid_type"},
      {kChat, Msgs(R"([{"content":"hi"}])"), 400, "messages[0].role", "missing_required_parameter"},
      {kChat, Msgs(R"([{"role":7,"content":"hi"}])"), 400, "messages[0].role", "invalid_type"},
      {kChat, Msgs(R"([{"role":"wizard","content":"hi"}])"), 400, "messages[0].role",
       "invalid_value"},
      {kChat, Msgs(R"([{"role":"user"}])"), 400, "messages[0].content",
       "missing_required_parameter"},
      {kChat, Msgs(R"([{"role":"user","content":null}])"), 400, "messages[0].content",
       "missing_required_parameter"},
      {kChat, Msgs(R"([{"role":"user","content":5}])"), 400, "messages[0].content", "invalid_type"},
      {kChat, Msgs(R"([{"role":"user","content":[]}])"), 400, "messages[0].content",
       "invalid_value"},
      {kChat, Msgs(R"([{"role":"user","content":[3]}])"), 400, "messages[0].content[0]",
       "invalid_type"},
      {kChat, Msgs(R"([{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}])"),
       400, "messages[0].content[0].type", "unsupported_parameter"},
      {kChat, Msgs(R"([{"role":"user","content":[{"type":"text"}]}])"), 400,
       "messages[0].content[0].text", "missing_required_parameter"},
      {kChat, Msgs(R"([{"role":"user","content":[{"type":"text","text":5}]}])"), 400,
       "messages[0].content[0].text", "invalid_type"},
      {kChat, Msgs(R"([{"role":"user","content":"hi"},{"role":"assistant","tool_calls":"x"}])"),
       400, "messages[1].tool_calls", "invalid_type"},
      {kChat, Msgs(R"([{"role":"assistant","tool_calls":[{"type":"function"}]}])"), 400,
       "messages[0].tool_calls[0].function", "missing_required_parameter"},
      {kChat, Msgs(R"([{"role":"assistant","tool_calls":[{"function":{"name":"f"}}]}])"), 400,
       "messages[0].tool_calls[0].function.arguments", "missing_required_parameter"},
      {kChat,
       Msgs(R"([{"role":"assistant","tool_calls":[{"function":{"name":5,"arguments":"{}"}}]}])"),
       400, "messages[0].tool_calls[0].function.name", "invalid_type"},
      // Out of range or unsupported values.
      {kChat, ChatBody(R"("max_tokens":0)"), 400, "max_tokens", "invalid_value"},
      {kChat, ChatBody(R"("max_tokens":-5)"), 400, "max_tokens", "invalid_value"},
      {kChat, ChatBody(R"("max_tokens":"10")"), 400, "max_tokens", "invalid_type"},
      {kChat, ChatBody(R"("max_tokens":1.5)"), 400, "max_tokens", "invalid_type"},
      {kChat, ChatBody(R"("max_tokens":3000000000)"), 400, "max_tokens", "invalid_value"},
      {kChat, ChatBody(R"("max_tokens":18446744073709551615)"), 400, "max_tokens", "invalid_value"},
      {kChat, ChatBody(R"("max_completion_tokens":0)"), 400, "max_completion_tokens",
       "invalid_value"},
      {kChat, ChatBody(R"("max_tokens":60)"), 400, "messages", "context_length_exceeded"},
      {kChat, ChatBody("", long_text), 400, "messages", "context_length_exceeded"},
      {kChat, ChatBody(R"("temperature":-0.1)"), 400, "temperature", "invalid_value"},
      {kChat, ChatBody(R"("temperature":2.5)"), 400, "temperature", "invalid_value"},
      {kChat, ChatBody(R"("temperature":1e400)"), 400, nullptr, "invalid_json"},
      {kChat, ChatBody(R"("temperature":"hot")"), 400, "temperature", "invalid_type"},
      {kChat, ChatBody(R"("top_p":0)"), 400, "top_p", "invalid_value"},
      {kChat, ChatBody(R"("top_p":1.5)"), 400, "top_p", "invalid_value"},
      {kChat, ChatBody(R"("top_k":-2)"), 400, "top_k", "invalid_value"},
      {kChat, ChatBody(R"("top_k":1.5)"), 400, "top_k", "invalid_type"},
      {kChat, ChatBody(R"("seed":"abc")"), 400, "seed", "invalid_type"},
      {kChat, ChatBody(R"("n":17)"), 400, "n", "invalid_value"},
      {kChat, ChatBody(R"("n":0)"), 400, "n", "invalid_value"},
      {kChat, ChatBody(R"("stream":"yes")"), 400, "stream", "invalid_type"},
      {kChat, ChatBody(R"("stream_options":{"include_usage":true})"), 400, "stream_options",
       "invalid_value"},
      {kChat, ChatBody(R"("stream":true,"stream_options":5)"), 400, "stream_options",
       "invalid_type"},
      {kChat, ChatBody(R"("stream":true,"stream_options":{"include_usage":"x"})"), 400,
       "stream_options.include_usage", "invalid_type"},
      {kChat, ChatBody(R"("stop":5)"), 400, "stop", "invalid_type"},
      {kChat, ChatBody(R"("stop":"")"), 400, "stop", "invalid_value"},
      {kChat, ChatBody(R"("stop":["a","b","c","d","e"])"), 400, "stop", "invalid_value"},
      {kChat, ChatBody(R"("stop":[""])"), 400, "stop[0]", "invalid_value"},
      {kChat, ChatBody(R"("stop":["a",1])"), 400, "stop[1]", "invalid_type"},
      {kChat, ChatBody(absl::StrCat(R"("stop":")", std::string(2000, 'a'), "\"")), 400, "stop",
       "invalid_value"},
      {kChat, ChatBody(R"("stop_token_ids":[-1])"), 400, "stop_token_ids[0]", "invalid_value"},
      {kChat, ChatBody(R"("stop_token_ids":"x")"), 400, "stop_token_ids", "invalid_type"},
      {kChat, ChatBody(R"("logprobs":true,"top_logprobs":21)"), 400, "top_logprobs",
       "invalid_value"},
      {kChat, ChatBody(R"("logprobs":"x")"), 400, "logprobs", "invalid_type"},
      {kChat, ChatBody(R"("top_logprobs":3)"), 400, "top_logprobs", "invalid_value"},
      {kChat, ChatBody(R"("presence_penalty":2.5)"), 400, "presence_penalty", "invalid_value"},
      {kChat, ChatBody(R"("frequency_penalty":3)"), 400, "frequency_penalty", "invalid_value"},
      {kChat, ChatBody(R"("logit_bias":{"1":500})"), 400, "logit_bias", "invalid_value"},
      {kChat, ChatBody(R"("tools":[{"type":"function","function":{"name":"f g"}}])"), 400,
       "tools[0].function.name", "invalid_value"},
      {kChat,
       ChatBody(R"("tools":[{"type":"function","function":{"name":"f"}}],)"
                R"("tool_choice":"required")"),
       400, "tool_choice", "unsupported_parameter"},
      {kChat, ChatBody(R"("response_format":{"type":"json_object"})"), 400, "response_format.type",
       "unsupported_parameter"},
      {kChat, ChatBody(R"("user":5)"), 400, "user", "invalid_type"},
      {kChat, ChatBody(R"("chat_template_kwargs":5)"), 400, "chat_template_kwargs", "invalid_type"},
      {kChat, ChatBody(R"("chat_template_kwargs":{"add_generation_prompt":false})"), 400,
       "chat_template_kwargs", "invalid_value"},
      {kChat, ChatBody(R"("reasoning_effort":"low")"), 400, "reasoning_effort",
       "unsupported_parameter"},
      {kChat, absl::StrCat(R"({"model":"gpt-4","messages":)", user, "}"), 404, "model",
       "model_not_found"},
      // Completions.
      {kCompletions, R"({"model":"r1-tiny"})", 400, "prompt", "missing_required_parameter"},
      {kCompletions, Comp(R"("prompt":5)"), 400, "prompt", "invalid_type"},
      {kCompletions, Comp(R"("prompt":[])"), 400, "prompt", "invalid_value"},
      {kCompletions, Comp(R"("prompt":["a","b"])"), 400, "prompt", "unsupported_parameter"},
      {kCompletions, Comp(R"("prompt":[[1,2]])"), 400, "prompt", "unsupported_parameter"},
      {kCompletions, Comp(R"("prompt":[1,-1])"), 400, "prompt[1]", "invalid_value"},
      {kCompletions, Comp(R"("prompt":[1,99999999])"), 400, "prompt[1]", "invalid_value"},
      {kCompletions, Comp(R"("prompt":[1,"a"])"), 400, "prompt[1]", "invalid_type"},
      {kCompletions, Comp(absl::StrCat(R"("prompt":)", long_ids)), 400, "prompt",
       "context_length_exceeded"},
      {kCompletions, Comp(R"("prompt":"x","echo":true)"), 400, "echo", "unsupported_parameter"},
      {kCompletions, Comp(R"("prompt":"x","chat_template_kwargs":{"a":1})"), 400,
       "chat_template_kwargs", "unsupported_parameter"},
      {kCompletions, Comp(R"("prompt":"x","best_of":2)"), 400, "best_of", "unsupported_parameter"},
      {kCompletions, Comp(R"("prompt":"x","suffix":"y")"), 400, "suffix", "unsupported_parameter"},
      {kCompletions, Comp(R"("prompt":"x","logprobs":9)"), 400, "logprobs", "invalid_value"},
      {kCompletions, Comp(R"("prompt":"x","max_tokens":0)"), 400, "max_tokens", "invalid_value"},
      {kCompletions, R"({"model":"nope","prompt":"x"})", 404, "model", "model_not_found"},
  };
}

TEST(HttpServerTest, MalformedRequestsGetExactErrorsAndServingGoesOn) {
  OpenAiHttpServerOptions o;
  TestServer s(o, /*max_model_len=*/64);
  s.Script(Ids("Ok.</think>\n\nDone."));
  const std::vector<BadCase> cases = BadBodies();
  int n = 0;
  for (const BadCase& c : cases) {
    ExpectError(Post(s.port(), c.route, c.body), c.status, c.param, c.code,
                absl::StrCat("case ", n++, ": ", c.route, " ", c.body.substr(0, 200)));
  }
  // Transport-level refusals.
  ExpectError(Request(s.port(), "GET", kChat), 405, nullptr, "method_not_allowed", "GET chat");
  ExpectError(Request(s.port(), "PUT", "/v1/models", "{}"), 405, nullptr, "method_not_allowed",
              "PUT models");
  ExpectError(Request(s.port(), "GET", "/v1/nothing"), 404, nullptr, "unknown_url", "unknown");
  ExpectError(Request(s.port(), "POST", "/v2/chat/completions", ChatBody()), 404, nullptr,
              "unknown_url", "v2");
  ExpectError(Request(s.port(), "GET", "/v1/models/gpt-4"), 404, "model", "model_not_found",
              "model id");
  ExpectError(Request(s.port(), "POST", kChat, ChatBody(), {{"Content-Type", "text/plain"}}), 415,
              nullptr, "unsupported_media_type", "text/plain");
  ExpectError(Request(s.port(), "POST", kCompletions, Comp(R"("prompt":"x")"),
                      {{"Content-Type", "application/x-www-form-urlencoded"}}),
              415, nullptr, "unsupported_media_type", "form");
  n += 7;
  {
    // A body over the limit, refused from its Content-Length.
    HttpConnection c(s.port());
    ASSERT_TRUE(
        c.WriteRaw(absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                "Content-Type: application/json\r\nContent-Length: ",
                                (9u << 20), "\r\n\r\n{\"model\":")));
    ExpectError(c.Read(), 413, nullptr, "request_too_large", "oversized body");
    ++n;
  }
  {
    // A body over the limit, sent in full.
    HttpConnection c(s.port());
    // The server answers 413 and closes; the client may see the answer or, still writing, a
    // reset. Either way nothing is generated.
    const HttpReply r = c.Send("POST", kChat, ChatBody("", std::string(9u << 20, 'a')));
    if (r.status != 0) ExpectError(r, 413, nullptr, "request_too_large", "oversized body, sent");
    ++n;
  }
  {
    HttpConnection c(s.port());
    ASSERT_TRUE(c.WriteRaw(absl::StrCat(
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ", std::string(20000, 'a'), "\r\n\r\n")));
    ExpectError(c.Read(), 431, nullptr, "header_too_large", "huge header");
    ++n;
  }
  {
    HttpConnection c(s.port());
    ASSERT_TRUE(c.WriteRaw("GARBAGE\r\n\r\n"));
    ExpectError(c.Read(), 400, nullptr, "bad_http_request", "bad request line");
    ++n;
  }
  {
    HttpConnection c(s.port());
    ASSERT_TRUE(
        c.WriteRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: 5\r\nContent-Length: 7\r\n\r\nabcdefg"));
    ExpectError(c.Read(), 400, nullptr, "bad_http_request", "two content lengths");
    ++n;
  }
  EXPECT_GE(n, 50);
  EXPECT_EQ(s.generator().submitted(), 0);

  // The server still serves.
  HttpReply ok = Post(s.port(), kChat, ChatBody());
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Json()["choices"][0]["message"]["content"], "\n\nDone.");
  EXPECT_EQ(Request(s.port(), "GET", "/live").status, 200);
}

TEST(HttpServerTest, ChatNonStreaming) {
  TestServer s;
  const std::vector<int32_t> tokens = Ids("Let me think.</think>\n\nThe answer is 4.");
  s.Script(tokens);
  HttpReply r = Post(s.port(), kChat,
                     ChatBody(R"("temperature":0.6,"top_p":0.9,"top_k":20,)"
                              R"("seed":7,"max_tokens":100)",
                              "What is 2+2?"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type"), "application/json");
  const json j = r.Json();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "r1-tiny");
  EXPECT_TRUE(absl::StartsWith(j["id"].get<std::string>(), "chatcmpl-"));
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["reasoning_content"], "Let me think.");
  EXPECT_EQ(choice["message"]["content"], "\n\nThe answer is 4.");
  // Usage: the prompt ids the generator got, and every generated id (EOS included).
  const GenerationRequest g = *s.generator().last_request();
  EXPECT_EQ(j["usage"]["prompt_tokens"], g.prompt_token_ids.size());
  EXPECT_EQ(j["usage"]["completion_tokens"], tokens.size());
  EXPECT_EQ(j["usage"]["total_tokens"], g.prompt_token_ids.size() + tokens.size());
  // The sampling parameters reached the generator.
  EXPECT_FLOAT_EQ(g.temperature, 0.6f);
  EXPECT_FLOAT_EQ(g.top_p, 0.9f);
  EXPECT_EQ(g.top_k, 20);
  EXPECT_EQ(g.seed, 7u);
  EXPECT_EQ(g.max_new_tokens, 100);
  EXPECT_EQ(g.stop_token_ids, std::vector<int32_t>{testing::EosId()});
  // The prompt is R1's template with the generation prompt.
  auto prompt = testing::TinyTokenizer().Decode(g.prompt_token_ids);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(*prompt, "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜><think>\n");
  // chat_template_kwargs reach the checkpoint's template; R1's reads none of them.
  r = Post(s.port(), kChat,
           ChatBody(R"("chat_template_kwargs":{"thinking":true})", "What is 2+2?"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.generator().last_request()->prompt_token_ids, g.prompt_token_ids);
}

TEST(HttpServerTest, MaxTokensEndsWithLengthAndDefaultsToTheRestOfTheContext) {
  TestServer s;
  s.Script(Ids("one two three four five six seven eight nine ten", false));
  HttpReply r = Post(s.port(), kCompletions, Comp(R"("prompt":"Count:","max_tokens":3)"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r.Json()["usage"]["completion_tokens"], 3);
  EXPECT_EQ(r.Json()["object"], "text_completion");
  r = Post(s.port(), kChat, ChatBody(R"("max_completion_tokens":2,"max_tokens":50)"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.generator().last_request()->max_new_tokens, 2);
  r = Post(s.port(), kChat, ChatBody());
  ASSERT_EQ(r.status, 200) << r.body;
  const GenerationRequest g = *s.generator().last_request();
  EXPECT_EQ(g.max_new_tokens, 4096 - static_cast<int32_t>(g.prompt_token_ids.size()));
}

TEST(HttpServerTest, StopStringsAcrossTokenBoundaries) {
  TestServer s;
  const std::vector<int32_t> tokens = Ids("Thinking hard.</think>\n\nHello world, stop here now.");
  s.Script(tokens);
  // "op he" spans the tokens of "stop here"; the earliest-ending stop string wins.
  HttpReply r = Post(s.port(), kChat, ChatBody(R"("stop":["now","op he","zzz"])"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["choices"][0]["message"]["content"], "\n\nHello world, st");
  EXPECT_EQ(r.Json()["choices"][0]["finish_reason"], "stop");
  EXPECT_GT(s.generator().cancelled(), 0);  // the sequence was stopped at once
  EXPECT_LT(r.Json()["usage"]["completion_tokens"].get<size_t>(), tokens.size());
  // Streaming gives the same text.
  r = Post(s.port(), kChat, ChatBody(R"("stop":["now","op he","zzz"],"stream":true)"));
  ASSERT_EQ(r.status, 200);
  std::string content;
  for (const std::string& d : SseData(r.body)) {
    if (d == "[DONE]") break;
    const json c = json::parse(d);
    if (c["choices"][0]["delta"].contains("content")) {
      content += c["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(content, "\n\nHello world, st");
  // A stop string in the reasoning ends the whole output.
  r = Post(s.port(), kChat, ChatBody(R"("stop":"hard")"));
  EXPECT_EQ(r.Json()["choices"][0]["message"]["reasoning_content"], "Thinking ");
  EXPECT_EQ(r.Json()["choices"][0]["message"]["content"], "");
  // Extra stop token ids.
  const int32_t comma = Ids(",", false).back();
  r = Post(s.port(), kChat, ChatBody(absl::StrCat(R"("stop_token_ids":[)", comma, "]")));
  EXPECT_EQ(r.Json()["choices"][0]["message"]["content"], "\n\nHello world");
}

TEST(HttpServerTest, ChatStreamingWithUsage) {
  TestServer s;
  const std::vector<int32_t> tokens = Ids("Hmm, 2+2.</think>\n\nIt is 4.");
  s.Script(tokens, absl::Milliseconds(1));
  HttpReply r =
      Post(s.port(), kChat, ChatBody(R"("stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
  const std::vector<std::string> data = SseData(r.body);
  ASSERT_GE(data.size(), 4u);
  EXPECT_EQ(data.back(), "[DONE]");
  std::string reasoning, content, id;
  int finish_chunks = 0;
  for (size_t i = 0; i + 1 < data.size(); ++i) {
    const json c = json::parse(data[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    if (i == 0) {
      id = c["id"];
      EXPECT_EQ(c["choices"][0]["delta"]["role"], "assistant");
    }
    EXPECT_EQ(c["id"], id);
    if (i + 2 == data.size()) {  // the usage chunk
      EXPECT_TRUE(c["choices"].empty());
      EXPECT_EQ(c["usage"]["completion_tokens"], tokens.size());
      EXPECT_EQ(c["usage"]["prompt_tokens"], s.generator().last_request()->prompt_token_ids.size());
      EXPECT_GT(c["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int>(), 0);
      continue;
    }
    EXPECT_TRUE(c.contains("usage") && c["usage"].is_null());
    const json& choice = c["choices"][0];
    if (choice["delta"].contains("reasoning_content")) {
      reasoning += choice["delta"]["reasoning_content"].get<std::string>();
    }
    if (choice["delta"].contains("content"))
      content += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) {
      ++finish_chunks;
      EXPECT_EQ(choice["finish_reason"], "stop");
    }
  }
  EXPECT_EQ(finish_chunks, 1);
  EXPECT_EQ(reasoning, "Hmm, 2+2.");
  EXPECT_EQ(content, "\n\nIt is 4.");
}

TEST(HttpServerTest, CompletionsStreamingAndTokenIdPrompts) {
  TestServer s;
  s.Script(Ids(" and they lived happily."));
  HttpReply r = Post(s.port(), kCompletions, Comp(R"("prompt":"Once upon a time","stream":true)"));
  ASSERT_EQ(r.status, 200);
  const std::vector<std::string> data = SseData(r.body);
  ASSERT_GE(data.size(), 3u);
  EXPECT_EQ(data.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < data.size(); ++i) {
    const json c = json::parse(data[i]);
    EXPECT_EQ(c["object"], "text_completion");
    EXPECT_FALSE(c.contains("usage"));
    text += c["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, " and they lived happily.");
  // The prompt got BOS, once.
  const std::vector<int32_t> bos = testing::TinyTokenizer().prefix_ids();
  auto prompt = s.generator().last_request()->prompt_token_ids;
  EXPECT_EQ(prompt[0], bos[0]);
  r = Post(s.port(), kCompletions, Comp(R"("prompt":"<｜begin▁of▁sentence｜>Once upon a time")"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(s.generator().last_request()->prompt_token_ids, prompt);
  // Token ids are used as given.
  r = Post(s.port(), kCompletions, Comp(R"("prompt":[5,6,7],"max_tokens":4)"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.generator().last_request()->prompt_token_ids, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(r.Json()["usage"]["prompt_tokens"], 3);
}

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
