// Unit tests of the DeepSeek tool-call parser: both formats, malformed output, and streaming
// splits at every byte boundary.
#include "coordinator/detok/tool_call_parser.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace r1::detok {
namespace {

const std::string kCallsBegin(kToolCallsBegin);
const std::string kCallsEnd(kToolCallsEnd);
const std::string kCallBegin(kToolCallBegin);
const std::string kCallEnd(kToolCallEnd);
const std::string kSep(kToolSep);

// A call as the V3 / R1 templates write it.
std::string V3Call(const std::string& name, const std::string& args) {
  return absl::StrCat(kCallBegin, "function", kSep, name, "\n```json\n", args, "\n```", kCallEnd);
}
// A call as the V3.1 template writes it.
std::string V31Call(const std::string& name, const std::string& args) {
  return absl::StrCat(kCallBegin, name, kSep, args, kCallEnd);
}

ToolCallDelta Feed(const std::vector<std::string>& chunks) {
  ToolCallParser p;
  ToolCallDelta out;
  for (const auto& c : chunks) p.Append(c, &out);
  p.Finish(&out);
  return out;
}

void ExpectSame(const ToolCallDelta& a, const ToolCallDelta& b, const std::string& what) {
  EXPECT_EQ(a.content, b.content) << what;
  EXPECT_EQ(a.calls, b.calls) << what;
}

// Every split of `text` in two, every byte on its own, and random splits give ParseToolCalls's
// result; text is never released before it is certain (no content beyond a prefix of the final
// content, no call before its end marker).
void ExpectStreamingEqual(const std::string& text) {
  const ToolCallDelta whole = ParseToolCalls(text);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    ToolCallParser p;
    ToolCallDelta out;
    p.Append(text.substr(0, cut), &out);
    EXPECT_EQ(whole.content.compare(0, out.content.size(), out.content), 0)
        << "cut " << cut << ": released content that is not final";
    EXPECT_LE(out.calls.size(), whole.calls.size());
    p.Append(text.substr(cut), &out);
    p.Finish(&out);
    ExpectSame(out, whole, absl::StrCat("cut at ", cut, " of ", text));
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  ExpectSame(Feed(bytes), whole, absl::StrCat("byte by byte: ", text));
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> chunks;
    size_t at = 0;
    while (at < text.size()) {
      const size_t n = std::uniform_int_distribution<size_t>(1, 12)(rng);
      chunks.push_back(text.substr(at, n));
      at += n;
    }
    ExpectSame(Feed(chunks), whole, absl::StrCat("random split: ", text));
  }
}

TEST(ToolCallParserTest, V3SingleCallAfterText) {
  const std::string text = absl::StrCat("Let me check.", kCallsBegin,
                                        V3Call("get_weather", R"({"city": "Paris"})"), kCallsEnd);
  const ToolCallDelta d = ParseToolCalls(text);
  EXPECT_EQ(d.content, "Let me check.");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].name, "get_weather");
  EXPECT_EQ(d.calls[0].arguments, R"({"city": "Paris"})");
  ExpectStreamingEqual(text);
}

TEST(ToolCallParserTest, V3SeveralCallsAsTheTemplateWritesThem) {
  const std::string text =
      absl::StrCat(kCallsBegin, V3Call("a", "{}"), "\n", V3Call("b_2", R"({"x": [1, {"y": "}"}]})"),
                   "\n", V3Call("c-3", "{\n  \"k\": \"```\"\n}"), kCallsEnd);
  const ToolCallDelta d = ParseToolCalls(text);
  EXPECT_EQ(d.content, "");
  ASSERT_EQ(d.calls.size(), 3u);
  EXPECT_EQ(d.calls[0], (ParsedToolCall{"a", "{}"}));
  EXPECT_EQ(d.calls[1], (ParsedToolCall{"b_2", R"({"x": [1, {"y": "}"}]})"}));
  EXPECT_EQ(d.calls[2], (ParsedToolCall{"c-3", "{\n  \"k\": \"```\"\n}"}));
  ExpectStreamingEqual(text);
}

TEST(ToolCallParserTest, V31Calls) {
  const std::string text = absl::StrCat("ok", kCallsBegin, V31Call("search", R"({"q": "日本 😀"})"),
                                        V31Call("function", R"({"n": 1})"), kCallsEnd);
  const ToolCallDelta d = ParseToolCalls(text);
  EXPECT_EQ(d.content, "ok");
  ASSERT_EQ(d.calls.size(), 2u);
  EXPECT_EQ(d.calls[0], (ParsedToolCall{"search", R"({"q": "日本 😀"})"}));
  // A V3.1 function named "function" is not taken for V3's type field.
  EXPECT_EQ(d.calls[1], (ParsedToolCall{"function", R"({"n": 1})"}));
  ExpectStreamingEqual(text);
}

TEST(ToolCallParserTest, LenientSpacingAndFences) {
  // No fence, a plain ``` fence, white space around every part.
  const std::string text = absl::StrCat(kCallsBegin, kCallBegin, "function", kSep, "f\n{\"a\": 1}",
                                        kCallEnd, "  \n ", kCallBegin, " function ", kSep,
                                        " g \n```\n {\"b\": 2} \n```\n", kCallEnd, "\n", kCallsEnd);
  const ToolCallDelta d = ParseToolCalls(text);
  EXPECT_EQ(d.content, "");
  ASSERT_EQ(d.calls.size(), 2u);
  EXPECT_EQ(d.calls[0], (ParsedToolCall{"f", R"({"a": 1})"}));
  EXPECT_EQ(d.calls[1], (ParsedToolCall{"g", R"({"b": 2})"}));
  ExpectStreamingEqual(text);
}

TEST(ToolCallParserTest, TextAfterTheCallsIsContent) {
  const std::string text = absl::StrCat("before ", kCallsBegin, V3Call("f", "{}"), kCallsEnd,
                                        " after ", kCallsBegin, V31Call("g", "{}"), kCallsEnd);
  const ToolCallDelta d = ParseToolCalls(text);
  EXPECT_EQ(d.content, "before  after ");
  ASSERT_EQ(d.calls.size(), 2u);
  ExpectStreamingEqual(text);
}

TEST(ToolCallParserTest, PlainTextAndPartialMarkersAreKept) {
  for (const std::string& text :
       {std::string("Just an answer."), std::string(""), std::string("a < b and <｜tool"),
        std::string("ends in a partial marker <｜tool▁calls▁beg"), kCallsBegin.substr(0, 1),
        absl::StrCat("x", kCallsEnd, kCallBegin, kSep, kCallEnd, "y")}) {
    const ToolCallDelta d = ParseToolCalls(text);
    EXPECT_EQ(d.content, text);
    EXPECT_TRUE(d.calls.empty());
    ExpectStreamingEqual(text);
  }
}

TEST(ToolCallParserTest, MalformedCallsBecomeRawContent) {
  struct Case {
    std::string text;
    std::string content;
    size_t calls;
  };
  const std::string good = V3Call("ok", "{}");
  const std::vector<Case> cases = {
      // Bad JSON arguments.
      {absl::StrCat(kCallsBegin, V3Call("f", "{\"a\": "), kCallsEnd), V3Call("f", "{\"a\": "), 0},
      // Arguments not an object.
      {absl::StrCat(kCallsBegin, V31Call("f", "[1]"), kCallsEnd), V31Call("f", "[1]"), 0},
      // No separator.
      {absl::StrCat(kCallsBegin, kCallBegin, "f{}", kCallEnd, kCallsEnd),
       absl::StrCat(kCallBegin, "f{}", kCallEnd), 0},
      // V3 form with another type, and a name with white space.
      {absl::StrCat(kCallsBegin, kCallBegin, "tool", kSep, "f\n{}", kCallEnd, good, kCallsEnd),
       absl::StrCat(kCallBegin, "tool", kSep, "f\n{}", kCallEnd), 1},
      {absl::StrCat(kCallsBegin, V31Call("my f", "{}"), kCallsEnd), V31Call("my f", "{}"), 0},
      {absl::StrCat(kCallsBegin, V31Call("", "{}"), kCallsEnd), V31Call("", "{}"), 0},
      // Unterminated call at the end of the output.
      {absl::StrCat("t", kCallsBegin, kCallBegin, "function", kSep, "f\n```json\n{\"a\""),
       absl::StrCat("t", kCallBegin, "function", kSep, "f\n```json\n{\"a\""), 0},
      // A call cut short by the next one / by the end of the section.
      {absl::StrCat(kCallsBegin, kCallBegin, "function", kSep, "f\n", good, kCallsEnd),
       absl::StrCat(kCallBegin, "function", kSep, "f\n"), 1},
      {absl::StrCat(kCallsBegin, kCallBegin, "g", kSep, "{}", kCallsEnd, "z"),
       absl::StrCat(kCallBegin, "g", kSep, "{}z"), 0},
      // Stray text inside the section: the rest is content.
      {absl::StrCat(kCallsBegin, good, " oops ", V3Call("f", "{}"), kCallsEnd),
       absl::StrCat(" oops ", V3Call("f", "{}"), kCallsEnd), 1},
      // The section never closed: calls before the end are still calls.
      {absl::StrCat(kCallsBegin, good, "\n"), "", 1},
      {absl::StrCat(kCallsBegin, good, "\n", kCallBegin.substr(0, 5)),
       absl::StrCat("\n", kCallBegin.substr(0, 5)), 1},
  };
  for (const Case& c : cases) {
    const ToolCallDelta d = ParseToolCalls(c.text);
    EXPECT_EQ(d.content, c.content) << c.text;
    EXPECT_EQ(d.calls.size(), c.calls) << c.text;
    ExpectStreamingEqual(c.text);
  }
}

TEST(ToolCallParserTest, DeepNestingAndHugeArgumentsDoNotCrash) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string text = absl::StrCat(kCallsBegin, V31Call("f", "{\"a\": " + deep + "}"));
  ToolCallDelta d = ParseToolCalls(absl::StrCat(text, kCallsEnd));
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].arguments.size(), deep.size() + 7);
  d = ParseToolCalls(absl::StrCat(kCallsBegin, V31Call("f", "{\"a\": " + deep), kCallsEnd));
  EXPECT_TRUE(d.calls.empty());
}

// A long call fed a byte at a time is scanned once, not again on every byte (1 MiB of arguments
// would take minutes otherwise).
TEST(ToolCallParserTest, LongCallsStreamInLinearTime) {
  const std::string args = "{\"text\": \"" + std::string(1 << 20, 'x') + "\"}";
  const std::string text = absl::StrCat(kCallsBegin, V31Call("f", args), kCallsEnd, "done");
  ToolCallParser p;
  ToolCallDelta out;
  for (char c : text) p.Append(absl::string_view(&c, 1), &out);
  p.Finish(&out);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].arguments, args);
  EXPECT_EQ(out.content, "done");
}

TEST(ToolCallParserTest, CallsAreReportedWhenTheirEndArrives) {
  ToolCallParser p;
  ToolCallDelta out;
  p.Append("Sure. ", &out);
  EXPECT_EQ(out.content, "Sure. ");
  p.Append(absl::StrCat(kCallsBegin, kCallBegin, "f", kSep, "{\"a\":"), &out);
  EXPECT_TRUE(out.calls.empty());
  p.Append(absl::StrCat("1}", kCallEnd), &out);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(p.calls(), 1);
  p.Append(kCallsEnd.substr(0, 4), &out);
  p.Finish(&out);
  EXPECT_EQ(out.content, absl::StrCat("Sure. ", kCallsEnd.substr(0, 4)));
}

TEST(ToolCallParserTest, ParseToolCallBody) {
  EXPECT_EQ(ParseToolCallBody(absl::StrCat("function", kSep, "f\n```json\n{}\n```")),
            (ParsedToolCall{"f", "{}"}));
  EXPECT_EQ(ParseToolCallBody(absl::StrCat("f", kSep, "{\"x\":1}")),
            (ParsedToolCall{"f", "{\"x\":1}"}));
  EXPECT_EQ(ParseToolCallBody(absl::StrCat("function", kSep, "f```json\n{}```")),
            (ParsedToolCall{"f", "{}"}));
  EXPECT_FALSE(ParseToolCallBody("f{}").has_value());
  EXPECT_FALSE(ParseToolCallBody(absl::StrCat("function", kSep, "f")).has_value());
  EXPECT_FALSE(ParseToolCallBody(absl::StrCat("f", kSep, "{} trailing")).has_value());
  EXPECT_FALSE(ParseToolCallBody(absl::StrCat("f", kSep, "{\"a\":\"\xff\"}")).has_value());
}

}  // namespace
}  // namespace r1::detok
