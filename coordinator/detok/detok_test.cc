// Unit tests of the reasoning parser, stop strings and the incremental detokenizer.
#include <memory>
#include <string>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode.h"
#include "coordinator/detok/incremental_detokenizer.h"
#include "coordinator/detok/output_stream.h"
#include "coordinator/detok/reasoning_parser.h"
#include "coordinator/detok/stop_strings.h"
#include "gtest/gtest.h"

namespace r1::detok {
namespace {

ReasoningDelta Feed(const std::vector<std::string>& chunks, bool starts_in_reasoning) {
  ReasoningParser p(starts_in_reasoning);
  ReasoningDelta out;
  for (const auto& c : chunks) p.Append(c, &out);
  p.Finish(&out);
  return out;
}

TEST(ReasoningParserTest, SplitsAtFirstCloseTag) {
  auto d = Feed({"Let me think", ".\n</thi", "nk>\n\nThe answer", " is 4.</think>"}, true);
  EXPECT_EQ(d.reasoning, "Let me think.\n");
  EXPECT_EQ(d.content, "\n\nThe answer is 4.</think>");
}

TEST(ReasoningParserTest, LeadingThinkAndNoCloseTag) {
  auto d = Feed({"<thi", "nk>\nhm"}, false);
  EXPECT_EQ(d.reasoning, "\nhm");
  EXPECT_EQ(d.content, "");
  d = Feed({"<th", "is is content"}, false);
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "<this is content");
  d = Feed({"<think>x</think>y"}, true);  // repeated <think> in the output is dropped
  EXPECT_EQ(d.reasoning, "x");
  EXPECT_EQ(d.content, "y");
  d = Feed({"</th"}, true);  // an unfinished tag at the end is reasoning text
  EXPECT_EQ(d.reasoning, "</th");
}

TEST(ReasoningParserTest, HoldsBackOnlyAPossibleTag) {
  ReasoningParser p(true);
  ReasoningDelta out;
  p.Append("abc</", &out);
  EXPECT_EQ(out.reasoning, "abc");
  p.Append("x", &out);
  EXPECT_EQ(out.reasoning, "abc</x");
}

TEST(StopStringsTest, EarliestEndingStopWinsAndNothingAfterIsEmitted) {
  StopStringMatcher m({"abcd", "c", "STOP"});
  std::string out;
  EXPECT_FALSE(m.Append("xxab", &out));
  EXPECT_EQ(out, "xx");  // "ab" could start "abcd"
  EXPECT_TRUE(m.Append("cd tail", &out));
  EXPECT_EQ(out, "xxab");  // "c" completes first
  EXPECT_EQ(*m.matched(), "c");
  EXPECT_TRUE(m.Append("more", &out));
  EXPECT_EQ(out, "xxab");
  std::optional<std::string> matched;
  EXPECT_EQ(TruncateAtStop("xxabcd tail", {"abcd", "c", "STOP"}, &matched), 4u);
  EXPECT_EQ(TruncateAtStop("xyz", {"bcd", "xyz", "yz"}, &matched), 0u);  // equal ends: longest
  EXPECT_EQ(*matched, "xyz");
}

TEST(StopStringsTest, SpansChunksAndFlushesPartialPrefixAtEnd) {
  StopStringMatcher m({"\n\nUser:"});
  std::string out;
  EXPECT_FALSE(m.Append("Hello\n", &out));
  EXPECT_FALSE(m.Append("\nUse", &out));
  EXPECT_EQ(out, "Hello");
  m.Finish(&out);
  EXPECT_EQ(out, "Hello\n\nUse");
}

std::unique_ptr<tok::Tokenizer> LoadTiny() {
  auto t = tok::Tokenizer::LoadFromFile("models/r1-tiny/tokenizer.json");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

TEST(IncrementalDetokenizerTest, NeverEmitsPartialCharacters) {
  auto tok = LoadTiny();
  ASSERT_NE(tok, nullptr);
  const std::string text = "😀中文 é 👩‍💻";
  auto ids = tok->Encode(text);
  ASSERT_TRUE(ids.ok());
  IncrementalDetokenizer d(tok.get());
  std::string all;
  for (int32_t id : *ids) {
    std::string delta;
    ASSERT_TRUE(d.Append({id}, &delta).ok());
    EXPECT_EQ(tok::FindInvalidUtf8(delta), absl::string_view::npos);
    EXPECT_LE(d.pending_bytes(), 3u);
    all += delta;
  }
  d.Finish(&all);
  EXPECT_EQ(all, text);
  std::string ignored;
  EXPECT_FALSE(d.Append({-1}, &ignored).ok());
}

TEST(OutputStreamTest, StopTokenEndsAndSkipsSpecialTokens) {
  auto tok = LoadTiny();
  ASSERT_NE(tok, nullptr);
  const int32_t eos = *tok->AddedTokenId("<｜end▁of▁sentence｜>");
  auto ids = tok->Encode("hm</think>\n\nIt is 4.<｜end▁of▁sentence｜>ignored");
  ASSERT_TRUE(ids.ok());
  OutputOptions opts;
  opts.stop_token_ids = {eos};
  opts.skip_ids = SpecialIdsExceptThink(*tok);
  EXPECT_FALSE(opts.skip_ids.contains(*tok->AddedTokenId("</think>")));
  OutputStream s(tok.get(), opts);
  OutputDelta d;
  ASSERT_TRUE(s.Append(*ids, &d).ok());
  EXPECT_TRUE(d.finished);
  EXPECT_EQ(d.reason, FinishReason::kStopToken);
  EXPECT_EQ(d.reasoning, "hm");
  EXPECT_EQ(d.content, "\n\nIt is 4.");
}

}  // namespace
}  // namespace r1::detok
