// Renders the real chat templates of tests/templates/ on every generated conversation of
// tests/templates/<name>.cases.json and compares with what Python's jinja2 produced under
// transformers' settings (tools/gen_template_cases.py), byte for byte. Inputs Python rejects
// must be rejected here too, with the same exception class.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/jinja/chat_context.h"
#include "common/jinja/template.h"
#include "nlohmann/json.hpp"

namespace r1::jinja {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kDir[] = "tests/templates";
const char* const kTemplates[] = {
    "deepseek-v3",   "deepseek-v3-0324",       "deepseek-r1",         "deepseek-r1-0528",
    "deepseek-v3.1", "deepseek-v3.1-llamacpp", "qwen2.5-7b-instruct",
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Fixture {
  Json data;
  std::string source;
};

Fixture Load(const std::string& name) {
  Fixture f;
  std::string text = ReadFile(std::string(kDir) + "/" + name + ".cases.json");
  f.data = Json::parse(text);
  f.source = ReadFile(std::string(kDir) + "/" + f.data["template"].get<std::string>());
  return f;
}

absl::StatusOr<std::string> RenderCase(const Template& t, const Json& special_tokens,
                                       const Json& c) {
  ChatTemplateInputs in;
  in.messages = c["messages"];
  in.tools = c["tools"];
  in.add_generation_prompt = c["add_generation_prompt"].get<bool>();
  in.special_tokens = special_tokens;
  in.kwargs = c["kwargs"];
  auto ctx = BuildChatContext(in);
  if (!ctx.ok()) return ctx.status();
  return t.Render(*ctx);
}

class TemplateFixtureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TemplateFixtureTest, RendersEveryCaseExactlyAsJinja2) {
  Fixture f = Load(GetParam());
  ASSERT_FALSE(f.source.empty());
  auto t = Template::Parse(f.source);
  ASSERT_TRUE(t.ok()) << t.status();
  const Json& cases = f.data["cases"];
  ASSERT_GE(cases.size(), 200u);
  int rendered = 0, rejected = 0;
  for (const Json& c : cases) {
    const std::string name = c["name"].get<std::string>();
    auto out = RenderCase(*t, f.data["special_tokens"], c);
    if (c.contains("expected")) {
      ASSERT_TRUE(out.ok()) << name << ": " << out.status();
      EXPECT_EQ(*out, c["expected"].get<std::string>()) << name;
      ++rendered;
    } else {
      const std::string error = c["error"].get<std::string>();
      ASSERT_FALSE(out.ok()) << name << ": Python failed with " << error << ", we rendered "
                             << *out;
      const std::string cls = error.substr(0, error.find(':'));
      EXPECT_TRUE(absl::StrContains(out.status().message(), cls))
          << name << ": Python: " << error << "; we: " << out.status();
      EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << name;
      EXPECT_TRUE(absl::StartsWith(out.status().message(), "template line ")) << name;
      ++rejected;
    }
  }
  EXPECT_GE(rendered, 150);
  RecordProperty("rendered", rendered);
  RecordProperty("rejected", rejected);
}

INSTANTIATE_TEST_SUITE_P(ChatTemplates, TemplateFixtureTest, ::testing::ValuesIn(kTemplates),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

TEST(TemplateFixtureTest, EveryFixtureOnDiskIsListed) {
  std::set<std::string> listed(std::begin(kTemplates), std::end(kTemplates));
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDir)) {
    std::string file = entry.path().filename().string();
    if (!absl::EndsWith(file, ".cases.json")) continue;
    ++found;
    EXPECT_TRUE(listed.count(file.substr(0, file.size() - 11))) << file;
  }
  EXPECT_EQ(found, static_cast<int>(listed.size()));
}

// One parsed template, rendered from several threads at once, gives every thread the same
// (correct) text.
TEST(TemplateFixtureTest, ConcurrentRendersOfOneTemplate) {
  Fixture f = Load("qwen2.5-7b-instruct");
  auto t = Template::Parse(f.source);
  ASSERT_TRUE(t.ok()) << t.status();
  const Json& cases = f.data["cases"];
  std::vector<int> mismatches(6, 0);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < mismatches.size(); ++k) {
    threads.emplace_back([&, k] {
      for (const Json& c : cases) {
        auto out = RenderCase(*t, f.data["special_tokens"], c);
        bool ok = c.contains("expected") ? out.ok() && *out == c["expected"].get<std::string>()
                                         : !out.ok();
        if (!ok) ++mismatches[k];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

// The same conversation through nlohmann::json (sorted keys) still renders templates that do not
// print dict key order identically.
TEST(TemplateFixtureTest, UnorderedJsonContext) {
  Fixture f = Load("deepseek-r1");
  auto t = Template::Parse(f.source);
  ASSERT_TRUE(t.ok()) << t.status();
  int checked = 0;
  for (const Json& c : f.data["cases"]) {
    if (!c.contains("expected")) continue;
    nlohmann::json ctx = nlohmann::json::parse(c["messages"].dump());
    nlohmann::json vars = {{"messages", ctx},
                           {"add_generation_prompt", c["add_generation_prompt"]},
                           {"bos_token", f.data["special_tokens"]["bos_token"]},
                           {"tools", nlohmann::json::parse(c["tools"].dump())}};
    auto out = t->Render(vars);
    ASSERT_TRUE(out.ok()) << c["name"] << ": " << out.status();
    EXPECT_EQ(*out, c["expected"].get<std::string>()) << c["name"];
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace r1::jinja
