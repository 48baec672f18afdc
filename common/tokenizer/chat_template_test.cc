#include "common/tokenizer/chat_template.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace r1::tok {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

const std::string kBos = "<｜begin▁of▁sentence｜>";

std::string Render(const json& messages, bool gen = true) {
  auto r = RenderR1ChatTemplate(messages, {.add_generation_prompt = gen});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : "";
}

json Call(const std::string& name, const std::string& args) {
  return json{{"type", "function"}, {"function", {{"name", name}, {"arguments", args}}}};
}

TEST(ChatTemplateTest, SpecExamples) {
  EXPECT_EQ(Render(json::parse(R"([{"role":"system","content":"You are a helpful assistant."},
                                   {"role":"user","content":"What is 2+2?"}])")),
            kBos + "You are a helpful assistant.<｜User｜>What is 2+2?<｜Assistant｜><think>\n");
  EXPECT_EQ(Render(json::parse(R"([{"role":"system","content":"You are a helpful assistant."},
      {"role":"user","content":"What is 2+2?"},
      {"role":"assistant","content":"<think>\nSimple.\n</think>\n\n2+2 = 4."},
      {"role":"user","content":"And 3+3?"}])")),
            kBos +
                "You are a helpful assistant.<｜User｜>What is 2+2?<｜Assistant｜>\n\n2+2 = 4."
                "<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜><think>\n");
  EXPECT_EQ(Render(json::parse(R"([{"role":"user","content":"Hi"}])")),
            kBos + "<｜User｜>Hi<｜Assistant｜><think>\n");
  EXPECT_EQ(Render(json::parse(R"([{"role":"system","content":"A"},{"role":"system","content":"B"},
                                   {"role":"user","content":"Hi"}])")),
            kBos + "A\n\nB<｜User｜>Hi<｜Assistant｜><think>\n");
  EXPECT_EQ(Render(json::array(), false), kBos);
}

TEST(ChatTemplateTest, ToolCallQuirks) {
  json msgs = json::array();
  msgs.push_back({{"role", "user"}, {"content", "u"}});
  msgs.push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {Call("f", "{}")}}});
  msgs.push_back({{"role", "tool"}, {"content", "r1"}});
  msgs.push_back({{"role", "assistant"},
                  {"content", "dropped"},
                  {"tool_calls", {Call("g", "{\"k\":1}"), Call("h", "[]")}}});
  msgs.push_back({{"role", "tool"}, {"content", "r2"}});
  EXPECT_EQ(Render(msgs),
            kBos +
                "<｜User｜>u<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
                "<｜tool▁sep｜>f\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
                "<｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r1"
                "<｜tool▁output▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```json\n"
                "{\"k\":1}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>h\n"
                "```json\n[]\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
                "<｜tool▁output▁begin｜>r2<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
  // After tool outputs an assistant message closes them (and keeps its </think> text).
  msgs.push_back({{"role", "assistant"}, {"content", "a</think>b"}});
  EXPECT_THAT(Render(msgs), HasSubstr("<｜tool▁outputs▁end｜>a</think>b<｜end▁of▁sentence｜>"
                                      "<｜Assistant｜><think>\n"));
}

TEST(ChatTemplateTest, StripsReasoningUpToTheLastCloseTag) {
  EXPECT_EQ(Render(json::parse(R"([{"role":"assistant","content":"x</think>y</think>z"}])"), false),
            kBos + "<｜Assistant｜>z<｜end▁of▁sentence｜>");
}

TEST(ChatTemplateTest, RefusesWhatTheTemplateCannotRender) {
  for (
      const char* bad : {
          R"({"role":"user"})",
          R"([{"role":"user","content":null}])",
          R"([{"role":"user","content":[{"type":"text","text":"x"}]}])",
          R"([{"role":"assistant","content":"x","tool_calls":null}])",
          R"([{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}])",
          R"([{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":{}}}]}])",
          R"([{"role":"tool","content":1}])",
          R"(["not an object"])",
      }) {
    auto r = RenderR1ChatTemplate(json::parse(bad), {});
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto r =
      RenderR1ChatTemplate(json::parse(R"([{"role":"user","content":"a"},{"role":"user"}])"), {});
  EXPECT_THAT(r.status().message(), HasSubstr("messages[1]: content must be a string"));
}

TEST(ChatTemplateTest, SkipsUnknownRoles) {
  EXPECT_EQ(Render(json::parse(R"([{"role":"developer","content":"d"},{"content":"no role"},
                                   {"role":"user","content":"u"}])"),
                   false),
            kBos + "<｜User｜>u");
}

}  // namespace
}  // namespace r1::tok
