#include "common/tokenizer/pre_tokenizer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace r1::tok {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Split(absl::string_view text) {
  PreTokenizerScratch scratch;
  std::vector<Piece> pieces;
  PreTokenize(text, &scratch, &pieces);
  std::vector<std::string> out;
  for (const Piece& p : pieces) out.emplace_back(text.substr(p.begin, p.end - p.begin));
  return out;
}

TEST(PreTokenizerTest, SpecExamples) {
  EXPECT_THAT(Split("def foo(x): return x"),
              ElementsAre("def", " foo", "(x", "):", " return", " x"));
  EXPECT_THAT(Split("abc123def"), ElementsAre("abc", "123", "def"));
  EXPECT_THAT(Split("a   b"), ElementsAre("a", "  ", " b"));
  EXPECT_THAT(Split("a\n\nb"), ElementsAre("a", "\n\n", "b"));
}

TEST(PreTokenizerTest, DigitsGroupInThrees) {
  EXPECT_THAT(Split("12345"), ElementsAre("123", "45"));
  EXPECT_THAT(Split("x=1234567"), ElementsAre("x", "=", "123", "456", "7"));
  EXPECT_THAT(Split("What is 347 + 582?"),
              ElementsAre("What", " is", " ", "347", " +", " ", "582", "?"));
}

TEST(PreTokenizerTest, CjkRunsAreIsolatedButNotHangul) {
  EXPECT_THAT(Split("我爱北京abc"), ElementsAre("我爱北京", "abc"));
  EXPECT_THAT(Split("カタ・カナ"), ElementsAre("カタ", "・", "カナ"));
  EXPECT_THAT(Split("한국어 텍스트"), ElementsAre("한국어", " 텍스트"));
}

TEST(PreTokenizerTest, WhitespaceAlternatives) {
  // (e) keeps the last space for the next word; at the end of a piece the whole run matches.
  EXPECT_THAT(Split("a  "), ElementsAre("a", "  "));
  EXPECT_THAT(Split("a \t\nb"), ElementsAre("a", " \t\n", "b"));
  EXPECT_THAT(Split("a\r\n\r\n  b"), ElementsAre("a", "\r\n\r\n", " ", " b"));
  // The lookahead sees the end of the stage-1 piece: " " before digits ends its piece.
  EXPECT_THAT(Split("a  12"), ElementsAre("a", "  ", "12"));
  EXPECT_THAT(Split(".\n\nx"), ElementsAre(".\n\n", "x"));
}

TEST(PreTokenizerTest, PunctuationAndMarks) {
  EXPECT_THAT(Split("$var _name"), ElementsAre("$var", " _", "name"));
  EXPECT_THAT(Split("e\xCC\x81t\xC3\xA9"), ElementsAre("e\xCC\x81t\xC3\xA9"));
  EXPECT_THAT(Split("\xCC\x81"
                    "abc"),
              ElementsAre("\xCC\x81"
                          "abc"));
  EXPECT_THAT(Split("hi!!! ok"), ElementsAre("hi", "!!!", " ok"));
  EXPECT_THAT(Split("\x01\x02z"), ElementsAre("\x01", "\x02z"));
}

TEST(PreTokenizerTest, PiecesCoverTheInput) {
  const std::string text = "Mixed 中文 text, 123.45 😀😀 \r\n\tend  ";
  std::string joined;
  for (const auto& p : Split(text)) {
    EXPECT_FALSE(p.empty());
    joined += p;
  }
  EXPECT_EQ(joined, text);
  EXPECT_TRUE(Split("").empty());
}

}  // namespace
}  // namespace r1::tok
