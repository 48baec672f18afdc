#include "common/tokenizer/unicode.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace r1::tok {
namespace {

std::string Lossy(absl::string_view s) {
  std::string out;
  EXPECT_EQ(AppendUtf8Lossy(s, true, &out), s.size());
  return out;
}

TEST(Utf8Test, DecodesValidAndRejectsInvalid) {
  char32_t cp = 0;
  EXPECT_EQ(DecodeUtf8("A", 1, &cp), 1);
  EXPECT_EQ(cp, U'A');
  EXPECT_EQ(DecodeUtf8("\xC3\xA9", 2, &cp), 2);
  EXPECT_EQ(cp, 0xE9u);
  EXPECT_EQ(DecodeUtf8("\xE4\xB8\xAD", 3, &cp), 3);
  EXPECT_EQ(cp, 0x4E2Du);
  EXPECT_EQ(DecodeUtf8("\xF0\x9F\x98\x80", 4, &cp), 4);
  EXPECT_EQ(cp, 0x1F600u);
  EXPECT_EQ(DecodeUtf8("\xC0\xAF", 2, &cp), 0);          // overlong
  EXPECT_EQ(DecodeUtf8("\xED\xA0\x80", 3, &cp), 0);      // surrogate
  EXPECT_EQ(DecodeUtf8("\xF4\x90\x80\x80", 4, &cp), 0);  // > U+10FFFF
  EXPECT_EQ(DecodeUtf8("\xE4\xB8", 2, &cp), 0);          // truncated
  EXPECT_EQ(DecodeUtf8("\x80", 1, &cp), 0);
  EXPECT_EQ(FindInvalidUtf8("ok \xE4\xB8\xAD"), absl::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("ok \xE4\xB8"), 3u);
  EXPECT_EQ(FindInvalidUtf8("\xFF"), 0u);
}

TEST(Utf8Test, LossyReplacesMaximalSubparts) {
  // Expected strings are Python's bytes.decode("utf-8", "replace") of the same input.
  EXPECT_EQ(Lossy("a\x80z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(Lossy("\xE2\x82z"), "\xEF\xBF\xBDz");                            // one U+FFFD for E2 82
  EXPECT_EQ(Lossy("\xE0\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // E0 needs A0..BF
  EXPECT_EQ(Lossy("\xF0\x9F\x98"), "\xEF\xBF\xBD");                          // truncated at the end
  EXPECT_EQ(Lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(Lossy("\xC3\xA9\xFF\xC3\xA9"), "\xC3\xA9\xEF\xBF\xBD\xC3\xA9");
}

TEST(Utf8Test, StreamingLossyEqualsWholeOnRandomChunks) {
  std::mt19937 rng(7);
  const std::string pieces[] = {"a",    "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\x80",
                                "\xE4", "\xF0\x9F", "\xFF",         "\xED\xA0\x80",     " "};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string bytes;
    const int n = static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) bytes += pieces[rng() % 10];
    const std::string want = Lossy(bytes);
    std::string got, pending;
    size_t pos = 0;
    while (pos < bytes.size()) {
      const size_t take = std::min<size_t>(1 + rng() % 4, bytes.size() - pos);
      pending += bytes.substr(pos, take);
      pos += take;
      const size_t used = AppendUtf8Lossy(pending, false, &got);
      EXPECT_LE(pending.size() - used, 3u);
      pending.erase(0, used);
      EXPECT_EQ(FindInvalidUtf8(got), absl::string_view::npos);
    }
    AppendUtf8Lossy(pending, true, &got);
    ASSERT_EQ(got, want) << "iteration " << iter;
  }
}

TEST(CharClassTest, MatchesOniguruma) {
  EXPECT_EQ(CharClassOf('a'), kLetter);
  EXPECT_EQ(CharClassOf('7'), kNumber);
  EXPECT_EQ(CharClassOf(' '), kSpace);
  EXPECT_EQ(CharClassOf('\n'), kSpace);
  EXPECT_EQ(CharClassOf(0x1C), 0);  // not \s in Oniguruma (Python's isspace() says yes)
  EXPECT_EQ(CharClassOf('$'), kSymbol);
  EXPECT_EQ(CharClassOf('!'), kPunct);
  EXPECT_EQ(CharClassOf(0x0301), kMark);
  EXPECT_EQ(CharClassOf(0x4E2D), kLetter | kCjk);
  EXPECT_EQ(CharClassOf(0x30FB), kPunct | kCjk);  // KATAKANA MIDDLE DOT
  EXPECT_EQ(CharClassOf(0xAC00), kLetter);        // Hangul is not in stage 2
  EXPECT_EQ(CharClassOf(0x00BD), kNumber);        // ½
  EXPECT_EQ(CharClassOf(0x3000), kSpace);
  EXPECT_EQ(CharClassOf(0x110000), 0);
}

}  // namespace
}  // namespace r1::tok
