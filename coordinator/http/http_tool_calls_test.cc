// Function calling over HTTP: a FakeGenerator emits DeepSeek tool calls (V3 / R1 and V3.1
// formats), and the OpenAI API returns them as message.tool_calls (non-streaming) or tool_calls
// deltas (SSE) with finish_reason "tool_calls"; without tools, with tool_choice "none" or on
// malformed output the text stays content. Conversations with tool calls and tool results reach
// the template.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/testing/http_test_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace r1 {
namespace {

using json = nlohmann::json;
using testing::ChatBody;
using testing::HttpReply;
using testing::Ids;
using testing::Post;
using testing::SseData;
using testing::TestServer;

constexpr char kChat[] = "/v1/chat/completions";
constexpr char kTools[] =
    R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Weather.",)"
    R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},)"
    R"({"type":"function","function":{"name":"get_time"}}])";

// R1-style output: reasoning, text, then two calls in the V3 / R1 format.
std::string V3Output() {
  return "Need the weather.</think>\n\nLet me check."
         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
         "```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n"
         "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```"
         "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
}

// The streamed chunks' payloads as JSON, [DONE] excluded (it must be last).
std::vector<json> Chunks(const HttpReply& r) {
  std::vector<std::string> data = SseData(r.body);
  EXPECT_FALSE(data.empty());
  EXPECT_EQ(data.back(), "[DONE]");
  std::vector<json> out;
  for (size_t i = 0; i + 1 < data.size(); ++i) out.push_back(json::parse(data[i]));
  return out;
}

TEST(HttpToolCallsTest, NonStreamingReturnsToolCalls) {
  TestServer s;
  const std::vector<int32_t> tokens = Ids(V3Output());
  s.Script(tokens);
  HttpReply r = Post(s.port(), kChat, ChatBody(kTools, "Weather and time in Paris?"));
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.Json();
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  const json& m = choice["message"];
  EXPECT_EQ(m["reasoning_content"], "Need the weather.");
  EXPECT_EQ(m["content"], "\n\nLet me check.");
  ASSERT_TRUE(m["tool_calls"].is_array()) << r.body;
  ASSERT_EQ(m["tool_calls"].size(), 2u);
  std::set<std::string> ids;
  for (const json& c : m["tool_calls"]) {
    EXPECT_EQ(c.size(), 3u) << c;  // id, type, function; no index outside streams
    EXPECT_EQ(c["type"], "function");
    EXPECT_TRUE(absl::StartsWith(c["id"].get<std::string>(), "call_")) << c;
    EXPECT_EQ(c["id"].get<std::string>().size(), 29u);
    ids.insert(c["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(m["tool_calls"][0]["function"],
            (json{{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}));
  EXPECT_EQ(m["tool_calls"][1]["function"], (json{{"name", "get_time"}, {"arguments", "{}"}}));
  // Every generated id is counted, the markers and EOS included.
  EXPECT_EQ(j["usage"]["completion_tokens"], tokens.size());
}

TEST(HttpToolCallsTest, StreamingSendsEachCallWhole) {
  TestServer s;
  s.Script(Ids(V3Output()));
  HttpReply r = Post(s.port(), kChat, ChatBody(absl::StrCat(kTools, R"(,"stream":true)")));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string reasoning, content, finish;
  std::vector<json> calls;
  for (const json& c : Chunks(r)) {
    ASSERT_EQ(c["object"], "chat.completion.chunk");
    const json& choice = c["choices"][0];
    const json& delta = choice["delta"];
    if (delta.contains("reasoning_content")) reasoning += delta["reasoning_content"];
    if (delta.contains("content")) content += delta["content"];
    if (delta.contains("tool_calls")) {
      for (const json& call : delta["tool_calls"]) calls.push_back(call);
    }
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  EXPECT_EQ(reasoning, "Need the weather.");
  EXPECT_EQ(content, "\n\nLet me check.");  // no marker text leaks into content
  EXPECT_EQ(finish, "tool_calls");
  ASSERT_EQ(calls.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(calls[i]["index"], i);
    EXPECT_EQ(calls[i]["type"], "function");
    EXPECT_TRUE(absl::StartsWith(calls[i]["id"].get<std::string>(), "call_"));
  }
  EXPECT_EQ(calls[0]["function"],
            (json{{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}));
  EXPECT_EQ(calls[1]["function"], (json{{"name", "get_time"}, {"arguments", "{}"}}));
}

TEST(HttpToolCallsTest, V31FormatAndManyTokensPerBatch) {
  TestServer s;
  const std::vector<int32_t> tokens =
      Ids("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"tz\": \"UTC\"}"
          "<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  s.generator().SetScript([&](const GenerationRequest&) {
    testing::FakeScript f;
    f.tokens = tokens;
    f.tokens_per_batch = 3;
    return f;
  });
  // The conversation ends in a tool result: R1's template does not reopen <think>, so the
  // output is content from its first token.
  const std::string body = absl::StrCat(
      R"({"model":"r1-tiny","messages":[{"role":"user","content":"Time?"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
      R"("function":{"name":"get_time","arguments":"{}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"12:00"}],)",
      kTools, "}");
  HttpReply r = Post(s.port(), kChat, body);
  ASSERT_EQ(r.status, 200) << r.body;
  const json m = r.Json()["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null()) << r.body;
  EXPECT_TRUE(m["reasoning_content"].is_null()) << r.body;
  ASSERT_EQ(m["tool_calls"].size(), 1u) << r.body;
  EXPECT_EQ(m["tool_calls"][0]["function"],
            (json{{"name", "get_time"}, {"arguments", "{\"tz\": \"UTC\"}"}}));
  EXPECT_EQ(r.Json()["choices"][0]["finish_reason"], "tool_calls");
  // The prompt: R1's template with the call and its result.
  auto prompt = testing::TinyTokenizer().Decode(s.generator().last_request()->prompt_token_ids);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(*prompt,
            "<｜begin▁of▁sentence｜><｜User｜>Time?<｜Assistant｜><｜tool▁calls▁begin｜>"
            "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```"
            "<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜>"
            "<｜tool▁output▁begin｜>12:00<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
}

TEST(HttpToolCallsTest, WithoutParsingTheTextIsContent) {
  TestServer s;
  s.Script(Ids(V3Output()));
  // No tools, and tools with tool_choice "none": no parsing; the markers are special tokens and
  // are skipped as ever.
  for (const std::string& extra :
       {std::string(), absl::StrCat(kTools, R"(,"tool_choice":"none")")}) {
    HttpReply r = Post(s.port(), kChat, ChatBody(extra));
    ASSERT_EQ(r.status, 200) << r.body;
    const json choice = r.Json()["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "stop") << extra;
    EXPECT_FALSE(choice["message"].contains("tool_calls")) << extra;
    EXPECT_TRUE(absl::StartsWith(choice["message"]["content"].get<std::string>(),
                                 "\n\nLet me check.function"))
        << choice;
  }
}

TEST(HttpToolCallsTest, MalformedCallsStayContentStreamedOrNot) {
  TestServer s;
  const std::string bad =
      "</think>Try.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n"
      "```json\n{\"a\": \n```<｜tool▁call▁end｜><｜tool▁calls▁end｜> Then <｜tool▁calls▁beg";
  const std::string raw =
      "Try.<｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\": \n```"
      "<｜tool▁call▁end｜> Then <｜tool▁calls▁beg";
  s.Script(Ids(bad));
  HttpReply r = Post(s.port(), kChat, ChatBody(kTools));
  ASSERT_EQ(r.status, 200) << r.body;
  const json choice = r.Json()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_FALSE(choice["message"].contains("tool_calls"));
  EXPECT_EQ(choice["message"]["content"], raw);
  r = Post(s.port(), kChat, ChatBody(absl::StrCat(kTools, R"(,"stream":true)")));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string content, finish;
  for (const json& c : Chunks(r)) {
    const json& delta = c["choices"][0]["delta"];
    EXPECT_FALSE(delta.contains("tool_calls"));
    if (delta.contains("content")) content += delta["content"];
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(content, raw);
  EXPECT_EQ(finish, "stop");
}

TEST(HttpToolCallsTest, FinishReasonAfterCalls) {
  TestServer s;
  // The generator ends the sequence without EOS: still "tool_calls"; at the length limit: "length".
  for (GenerationEnd end : {GenerationEnd::kStop, GenerationEnd::kLength}) {
    s.Script(Ids(V3Output(), false), absl::ZeroDuration(), end);
    HttpReply r = Post(s.port(), kChat, ChatBody(kTools));
    ASSERT_EQ(r.status, 200) << r.body;
    const json choice = r.Json()["choices"][0];
    EXPECT_EQ(choice["finish_reason"], end == GenerationEnd::kStop ? "tool_calls" : "length");
    EXPECT_EQ(choice["message"]["tool_calls"].size(), 2u);
  }
  // A call cut off by the end of the output is content.
  s.Script(Ids("</think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{", false),
           absl::ZeroDuration(), GenerationEnd::kLength);
  HttpReply r = Post(s.port(), kChat, ChatBody(kTools));
  ASSERT_EQ(r.status, 200) << r.body;
  const json choice = r.Json()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_EQ(choice["message"]["content"], "<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{");
  EXPECT_FALSE(choice["message"].contains("tool_calls"));
}

// The operator's chat template (r1-coordinator --chat_template) replaces the tokenizer's, so a
// template that renders the tools' definitions puts them in the prompt.
TEST(HttpToolCallsTest, AChatTemplateThatRendersTools) {
  http::OpenAiHttpServerOptions o;
  o.chat_template =
      "{{ bos_token }}{% if tools %}## Tools{% for t in tools %}{{ '\\n' }}### "
      "{{ t.function.name }}: "
      "{{ t.function.description }} {{ t.function.parameters | tojson }}{% endfor %}{% endif %}"
      "{% for m in messages %}<｜User｜>{{ m.content }}{% endfor %}<｜Assistant｜><think>{{ '\\n' "
      "}}";
  o.chat_template_origin = "tools.jinja";
  TestServer s(o);
  s.Script(Ids(V3Output()));
  HttpReply r = Post(s.port(), kChat, ChatBody(kTools, "Weather?"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["choices"][0]["finish_reason"], "tool_calls");
  auto prompt = testing::TinyTokenizer().Decode(s.generator().last_request()->prompt_token_ids);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(*prompt,
            "<｜begin▁of▁sentence｜>## Tools\n### get_weather: Weather. {\"type\": \"object\", "
            "\"properties\": {\"city\": {\"type\": \"string\"}}}\n### get_time: None null"
            "<｜User｜>Weather?<｜Assistant｜><think>\n");
}

TEST(HttpToolCallsTest, BadToolsAreRefusedByName) {
  TestServer s;
  struct Case {
    std::string extra, param, code;
  };
  const std::vector<Case> cases = {
      {R"("tools":{})", "tools", "invalid_type"},
      {R"("tools":[5])", "tools[0]", "invalid_type"},
      {R"("tools":[{"function":{"name":"f"}}])", "tools[0].type", "missing_required_parameter"},
      {R"("tools":[{"type":"code_interpreter"}])", "tools[0].type", "unsupported_parameter"},
      {R"("tools":[{"type":"function"}])", "tools[0].function", "missing_required_parameter"},
      {R"("tools":[{"type":"function","function":{}}])", "tools[0].function.name",
       "missing_required_parameter"},
      {R"("tools":[{"type":"function","function":{"name":"a.b"}}])", "tools[0].function.name",
       "invalid_value"},
      {R"("tools":[{"type":"function","function":{"name":"f","parameters":[]}}])",
       "tools[0].function.parameters", "invalid_type"},
      {R"("tools":[{"type":"function","function":{"name":"f","description":1}}])",
       "tools[0].function.description", "invalid_type"},
      {R"("tools":[{"type":"function","function":{"name":"f","strict":"yes"}}])",
       "tools[0].function.strict", "invalid_type"},
      {R"("tools":[{"type":"function","function":{"name":"f"}},)"
       R"({"type":"function","function":{"name":"f"}}])",
       "tools[1].function.name", "invalid_value"},
      {R"("tool_choice":"required")", "tool_choice", "unsupported_parameter"},
      {R"("tool_choice":{"type":"function","function":{"name":"f"}})", "tool_choice",
       "unsupported_parameter"},
      {R"("tool_choice":"sometimes")", "tool_choice", "invalid_value"},
      {R"("tool_choice":3)", "tool_choice", "invalid_type"},
      {R"("parallel_tool_calls":"no")", "parallel_tool_calls", "invalid_type"},
      {R"("functions":[{"name":"f"}])", "functions", "unsupported_parameter"},
  };
  for (const Case& c : cases) {
    HttpReply r = Post(s.port(), kChat, ChatBody(c.extra));
    ASSERT_EQ(r.status, 400) << c.extra << "\n" << r.body;
    const json e = r.Json()["error"];
    EXPECT_EQ(e["param"], c.param) << c.extra << "\n" << r.body;
    EXPECT_EQ(e["code"], c.code) << c.extra << "\n" << r.body;
  }
  // Tools on /v1/completions.
  HttpReply r = Post(s.port(), "/v1/completions",
                     R"({"model":"r1-tiny","prompt":"x",)" + std::string(kTools) + "}");
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Json()["error"]["param"], "tools");
  EXPECT_EQ(s.generator().submitted(), 0);
}

}  // namespace
}  // namespace r1
