// Function calling in the request layer: ValidateTools's refusals, which requests parse tool
// calls, tool-call ids and marker ids, tools reaching the chat template (their strings client
// text), and conversations with tool calls and tool results rendered by DeepSeek's templates
// (tests/templates) exactly as Python's jinja2 renders them.
#include "coordinator/api/tools.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "coordinator/api/api_status.h"
#include "coordinator/api/prompt_builder.h"
#include "coordinator/testing/api_request_util.h"
#include "coordinator/testing/tiny_tokenizer.h"
#include "gtest/gtest.h"

namespace r1::api {
namespace {

using testing::BuilderWith;
using testing::kBos;
using testing::TemplateFile;
using testing::TinyTokenizer;

ChatTool Tool(std::string name, std::string params = "") {
  ChatTool t;
  t.name = std::move(name);
  t.parameters_json = std::move(params);
  return t;
}

OpenAiRequest ChatWithTools(std::vector<ChatTool> tools) {
  OpenAiRequest r;
  r.kind = ApiKind::kChat;
  r.model = testing::kModelId;
  ChatMessage m;
  m.role = "user";
  m.content = "Weather?";
  r.messages = {m};
  r.tools = std::move(tools);
  return r;
}

// The param of a refusal, or "ok".
std::string Refusal(const OpenAiRequest& r) {
  const absl::Status s = ValidateTools(r);
  if (s.ok()) return "ok";
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  return ApiStatusParam(s).value_or("?");
}

TEST(ToolsTest, Validation) {
  EXPECT_EQ(Refusal(ChatWithTools({})), "ok");
  EXPECT_EQ(Refusal(ChatWithTools({Tool("get_weather", R"({"type":"object"})"), Tool("A-b_9")})),
            "ok");
  EXPECT_EQ(Refusal(ChatWithTools({Tool(std::string(64, 'x'))})), "ok");
  EXPECT_EQ(Refusal(ChatWithTools({Tool(std::string(65, 'x'))})), "tools[0].function.name");
  EXPECT_EQ(Refusal(ChatWithTools({Tool("")})), "tools[0].function.name");
  EXPECT_EQ(Refusal(ChatWithTools({Tool("f"), Tool("a b")})), "tools[1].function.name");
  EXPECT_EQ(Refusal(ChatWithTools({Tool("f"), Tool("f")})), "tools[1].function.name");
  EXPECT_EQ(Refusal(ChatWithTools({Tool("f", "[]")})), "tools[0].function.parameters");
  EXPECT_EQ(Refusal(ChatWithTools({Tool("f", "{")})), "tools[0].function.parameters");
  EXPECT_EQ(Refusal(ChatWithTools({Tool("f", std::string(100, '[') + std::string(100, ']'))})),
            "tools[0].function.parameters");
  std::vector<ChatTool> many;
  for (size_t i = 0; i <= kMaxTools; ++i) many.push_back(Tool("f" + std::to_string(i)));
  EXPECT_EQ(Refusal(ChatWithTools(many)), "tools");
  many.pop_back();
  EXPECT_EQ(Refusal(ChatWithTools(many)), "ok");
  OpenAiRequest completion = ChatWithTools({Tool("f")});
  completion.kind = ApiKind::kCompletion;
  EXPECT_EQ(Refusal(completion), "tools");
  // ValidateOpenAiRequest applies them.
  OpenAiRequest r = ChatWithTools({Tool("f"), Tool("f")});
  EXPECT_FALSE(ValidateOpenAiRequest(&r, {testing::kModelId, 0}).ok());
}

TEST(ToolsTest, WhichRequestsParseToolCalls) {
  OpenAiRequest r = ChatWithTools({Tool("f")});
  EXPECT_TRUE(ParsesToolCalls(r));
  r.tool_choice = ToolChoice::kNone;
  EXPECT_FALSE(ParsesToolCalls(r));
  EXPECT_FALSE(ParsesToolCalls(ChatWithTools({})));
}

TEST(ToolsTest, IdsAndMarkers) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewToolCallId();
    ASSERT_EQ(id.size(), 29u);
    ASSERT_TRUE(absl::StartsWith(id, "call_"));
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  const std::vector<int32_t> markers = ToolCallMarkerIds(TinyTokenizer());
  ASSERT_EQ(markers.size(), 5u);
  for (int32_t id : markers) EXPECT_TRUE(TinyTokenizer().IsSpecial(id));
}

TEST(ToolsTest, ToolsReachTheTemplateAsClientText) {
  auto b = BuilderWith(
      "{{ bos_token }}{% if tools is none %}no tools{% else %}{% for t in tools %}[{{ t.type }}:"
      "{{ t.function.name }}|{{ t.function.description }}|{{ t.function.parameters | default(none) "
      "| tojson }}|"
      "{{ t.function.keys() | list | length }}]{% endfor %}{% endif %}"
      "<｜User｜>{{ messages[0].content }}<｜Assistant｜>");
  ASSERT_TRUE(b.ok()) << b.status();
  OpenAiRequest r = ChatWithTools({});
  EXPECT_EQ(*(*b)->RenderChat(r), kBos + "no tools<｜User｜>Weather?<｜Assistant｜>");
  ChatTool weather =
      Tool("get_weather", R"({"type":"object","properties":{"u":{"enum":["<｜User｜>"]}}})");
  weather.description = "Looks up <｜User｜> weather.";
  r = ChatWithTools({weather, Tool("now")});
  ASSERT_TRUE((*b)->RenderChat(r).ok()) << (*b)->RenderChat(r).status();
  EXPECT_EQ(*(*b)->RenderChat(r),
            kBos +
                "[function:get_weather|Looks up <｜User｜> weather.|{\"type\": \"object\", "
                "\"properties\": {\"u\": {\"enum\": [\"<｜User｜>\"]}}}|3]"
                "[function:now|None|null|3]<｜User｜>Weather?<｜Assistant｜>");
  // The client's special-token strings stay text: one <｜User｜> id, the template's.
  auto ids = (*b)->Build(r);
  ASSERT_TRUE(ids.ok()) << ids.status();
  const int32_t user = *TinyTokenizer().AddedTokenId("<｜User｜>");
  EXPECT_EQ(std::count(ids->begin(), ids->end(), user), 1);
}

// A tool round trip (the call with its id, then its result) in DeepSeek's templates; the
// expected texts are Python jinja2's renderings of tests/templates.
TEST(ToolsTest, ToolRoundTripInDeepSeekTemplates) {
  ChatMessage user;
  user.role = "user";
  user.content = "Weather?";
  ChatMessage call;
  call.role = "assistant";
  call.content = "";  // R1-0528's template cannot take null content (it tests '</think>' in it)
  call.has_tool_calls = true;
  call.tool_calls = {{"function", "get_weather", R"({"city": "Paris"})", "call_1"}};
  ChatMessage result;
  result.role = "tool";
  result.content = "sunny";
  result.tool_call_id = "call_1";
  OpenAiRequest r = ChatWithTools({Tool("get_weather", R"({"type":"object"})")});
  r.messages = {user, call, result};
  const std::string v3_call =
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
  const std::string v3_result =
      "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>sunny<｜tool▁output▁end｜>"
      "<｜tool▁outputs▁end｜>";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"deepseek-v3-0324.jinja", kBos + "<｜User｜>Weather?<｜Assistant｜>" + v3_call + v3_result},
      {"deepseek-r1-0528.jinja", kBos + "<｜User｜>Weather?<｜Assistant｜>" + v3_call + v3_result},
      {"deepseek-r1.jinja", kBos + "<｜User｜>Weather?<｜Assistant｜>" + v3_call + v3_result},
      {"deepseek-v3.1.jinja",
       kBos +
           "<｜User｜>Weather?<｜Assistant｜></think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>"
           "get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
           "<｜end▁of▁sentence｜><｜tool▁output▁begin｜>sunny<｜tool▁output▁end｜>"},
  };
  for (const auto& [file, want] : cases) {
    auto b = BuilderWith(TemplateFile(file));
    ASSERT_TRUE(b.ok()) << file << ": " << b.status();
    auto text = (*b)->RenderChat(r);
    ASSERT_TRUE(text.ok()) << file << ": " << text.status();
    EXPECT_EQ(*text, want) << file;
    // The ids: the rendered text with every added token matched.
    auto ids = (*b)->Build(r);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, *TinyTokenizer().Encode(*text)) << file;
  }
}

}  // namespace
}  // namespace r1::api
