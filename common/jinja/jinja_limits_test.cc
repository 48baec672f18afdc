// Hostile templates and inputs end in a clear Status, never a crash, a hang or unbounded memory:
// output size, evaluation steps (loops), macro recursion and template nesting are all bounded.
#include <chrono>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/jinja/template.h"
#include "nlohmann/json.hpp"

namespace r1::jinja {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Status RenderStatus(const std::string& tmpl, const RenderLimits& limits = {}) {
  auto t = Template::Parse(tmpl);
  if (!t.ok()) return t.status();
  return t->Render(nlohmann::json::object(), limits).status();
}

TEST(JinjaLimitsTest, OutputSize) {
  RenderLimits limits;
  limits.max_output_bytes = 1 << 20;
  absl::Status s =
      RenderStatus("line one\n{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()),
              StartsWith("template line 2: template output exceeds 1048576 bytes"));
  // Text just under the limit is fine.
  EXPECT_TRUE(RenderStatus("{{ 'x' * 1000 }}", limits).ok());
}

TEST(JinjaLimitsTest, ValuesNeverOutgrowTheOutputLimit) {
  RenderLimits limits;
  limits.max_output_bytes = 1 << 20;
  for (const char* tmpl : {
           "{{ ('x' * 1000000000000)|length }}",
           "{{ ([1] * 1000000000000)|length }}",
           "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
           "{% endfor %}{{ ns.s|length }}",
           "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
           "{% endfor %}",
           "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
           "{% endfor %}",
           "{{ ('x' * 1000000).replace('x', 'yy') }}",
           "{{ ('abc' * 400000)|tojson }}",
           "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
           "{% set ns.s = [ns.s, ns.s]|join(',') %}{% endfor %}",
       }) {
    absl::Status s = RenderStatus(tmpl, limits);
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << tmpl << ": " << s;
    EXPECT_THAT(std::string(s.message()), StartsWith("template line 1: ")) << tmpl;
  }
}

TEST(JinjaLimitsTest, EndlessLoopsRunOutOfSteps) {
  RenderLimits limits;
  limits.max_steps = 200000;
  for (const char* tmpl : {
           "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
           "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
           "{% if a == -1 %}never{% endif %}{% endfor %}{% endfor %}{% endfor %}",
           "{% for a in range(100000) %}{{ range(100000)|list|length }}{% endfor %}",
           "{% for a in range(100000) %}{% set x = range(100000)|sort %}{% endfor %}",
       }) {
    auto start = std::chrono::steady_clock::now();
    absl::Status s = RenderStatus(tmpl, limits);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << tmpl << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("template evaluation exceeds 200000 steps"))
        << tmpl;
    EXPECT_LT(ms, 5000) << tmpl;
  }
}

// With the default limits the worst loop still stops within seconds.
TEST(JinjaLimitsTest, DefaultStepLimitStopsQuickly) {
  auto start = std::chrono::steady_clock::now();
  absl::Status s = RenderStatus(
      "{% for a in range(100000) %}{% for b in range(100000) %}{{ '' }}{% endfor %}{% endfor %}");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_LT(ms, 5000);
}

TEST(JinjaLimitsTest, MacroRecursion) {
  RenderLimits limits;
  limits.max_call_depth = 16;
  absl::Status s = RenderStatus("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n{{ f(0) }}", limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("macro calls nest deeper than 16"));
  s = RenderStatus(
      "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(0) }}",
      limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  // Bounded recursion below the limit works.
  auto t = Template::Parse(
      "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(15) }}");
  ASSERT_TRUE(t.ok());
  auto out = t->Render(nlohmann::json::object(), limits);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "151413121110987654321");
}

TEST(JinjaLimitsTest, NestingIsBoundedAtParseTime) {
  for (const std::string& tmpl : {
           "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}",
           "{{ " + std::string(100000, '[') + std::string(100000, ']') + " }}",
           "{{ " + std::string(50000, '-') + "1 }}",
           [] {
             std::string s = "{{ 1";
             for (int i = 0; i < 50000; ++i) s += " if 1 else 1";
             return s + " }}";
           }(),
           [] {
             std::string s = "{{ x";
             for (int i = 0; i < 100000; ++i) s += ".a";
             return s + " }}";
           }(),
           [] {
             std::string s;
             for (int i = 0; i < 50000; ++i) s += "{% if true %}";
             return s;
           }(),
           [] {
             std::string s = "{{ ";
             for (int i = 0; i < 100000; ++i) s += "not ";
             return s + "x }}";
           }(),
       }) {
    auto t = Template::Parse(tmpl);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("deeper than 64"))
        << tmpl.substr(0, 40);
  }
  // Long flat chains are not nesting.
  std::string chain = "{{ 'a'";
  for (int i = 0; i < 20000; ++i) chain += " + 'a'";
  chain += " }}";
  auto t = Template::Parse(chain);
  ASSERT_TRUE(t.ok()) << t.status();
  auto out = t->Render(nlohmann::json::object());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size(), 20001u);
}

TEST(JinjaLimitsTest, DeepContextIsRefused) {
  auto t = Template::Parse("{{ x }}");
  ASSERT_TRUE(t.ok());
  std::string deep = std::string(1000, '[') + std::string(1000, ']');
  nlohmann::json ctx = {{"x", nlohmann::json::parse(deep)}};
  EXPECT_EQ(t->Render(ctx).status().code(), absl::StatusCode::kInvalidArgument);
}

// A failed render leaves nothing behind: the template renders normally afterwards.
TEST(JinjaLimitsTest, FailuresDoNotPoisonTheTemplate) {
  auto t = Template::Parse("{% for i in range(n) %}{{ i }}{% endfor %}");
  ASSERT_TRUE(t.ok());
  RenderLimits limits;
  limits.max_steps = 1000;
  EXPECT_FALSE(t->Render(nlohmann::json{{"n", 100000}}, limits).ok());
  auto out = t->Render(nlohmann::json{{"n", 5}}, limits);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "01234");
}

}  // namespace
}  // namespace r1::jinja
