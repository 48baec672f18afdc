// OpenAiHttpServer over a FakeGenerator, through real sockets: malformed and out-of-range
// requests (exact status and error object each), responses and SSE streams, max_tokens and stop
// strings. Errors, deadlines, disconnects, keys, limits, metrics and shutdown:
// http_server_lifecycle_test.cc.
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

}  // namespace
}  // namespace r1::http
