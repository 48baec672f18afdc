#include "common/tokenizer/regex_translate.h"

#include <string>
#include <vector>

#include "common/tokenizer/pcre2_regex.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "common/tokenizer/unicode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace r1::tok {
namespace {

using ::testing::HasSubstr;

std::string Canonical(absl::string_view pattern) {
  auto t = TranslateHfRegex(pattern, ExplicitClassSpellings());
  EXPECT_TRUE(t.ok()) << pattern << ": " << t.status();
  return t.ok() ? t->canonical : "";
}

TEST(RegexTranslateTest, SpellingsOfTheSameRegexHaveOneCanonicalForm) {
  const std::vector<std::vector<std::string>> same = {
      {std::string(kDeepSeekSplitRegexes[1]), "[\\u4E00-\\u9FA5\\u3040-\\u309F\\u30A0-\\u30FF]+",
       "[\\x{4e00}-\\x{9FA5}\\u30A0-\\u30FF\\x{3040}-\\x{309f}]+", "[぀-ゟ゠-ヿ一-龥]+"},
      {std::string(kDeepSeekSplitRegexes[2]),
       "[!\\\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
       "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
       "[!-/:-@\\[-`{-~][A-Za-z]+|[^\\n\\r\\p{Symbol}\\p{Letter}\\p{ Punctuation }]?"
       "[\\p{M}\\p{L}]+|\\ ?[\\p{S}\\p{P}]+[\\x0A\\x{D}]*|\\s*[\\u000D\\n]+|\\s+(?!\\S)|\\s+"},
      {"\\p{N}{1,3}", "\\p{Number}{1,3}", "\\p{n}{01,3}", "[\\p{N}]{1,3}"},
      {"a{,2}", "a{0,2}"},
      {"(?<word>\\p{L}+)|x", "(\\p{L}+)|x", "(\\p{L}+)|(?#a comment)x"},
      {"\"", "\\\"", "\\x22", "\\u0022"},
      {"\\P{L}", "\\p{^L}", "[^\\p{L}]"},
      {"\\S", "[^\\s]"},
      {"[\\h]", "[0-9A-Fa-f]", "[a-fA-F0-9]"},
  };
  for (const auto& group : same) {
    for (const std::string& s : group) EXPECT_EQ(Canonical(s), Canonical(group[0])) << s;
  }
}

TEST(RegexTranslateTest, DifferentRegexesHaveDifferentForms) {
  const std::vector<std::string> all = {"\\p{L}", "\\p{N}",
                                        "\\s+",   "\\s*",
                                        "(?i:a)", "a",
                                        "[a-]",   "[a\\]]",
                                        "a{2}",   "a{2,}",
                                        "a{,2}",  "\\{",
                                        "^a",     "a$",
                                        "\\Aa",   "(?m:.)",
                                        ".",      "(?=a)",
                                        "(?!a)",  "(?<=a)",
                                        "(?>a)",  "[\\S]",
                                        "[\\s]",  "\\h",
                                        "\\H",    std::string(kDeepSeekSplitRegexes[2])};
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = i + 1; j < all.size(); ++j) {
      EXPECT_NE(Canonical(all[i]), Canonical(all[j])) << all[i] << " vs " << all[j];
    }
  }
}

TEST(RegexTranslateTest, RefusesWhatItCannotTranslateFaithfully) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"\\d+", "escape \\d at offset 0"},
      {"a\\w", "escape \\w at offset 1"},
      {"\\bx", "escape \\b"},
      {"\\p{Lu}", "property \\p{lu}"},
      {"\\pL", "\\p without {name}"},
      {"(?x) a", "group (?x"},
      {"[[:alpha:]]", "nested class or POSIX bracket"},
      {"[a-z&&[^x]]", "class intersection &&"},
      {"a{2}+", "'+' after {..}"},
      {"a{2}?", "'?' after {n}"},
      {"(a)\\1", "escape \\1"},
      {"a\\K", "escape \\K"},
      {"ab\\", "pattern ends with a backslash"},
      {"[z-a]", "range out of order"},
      {"[\\s-z]", "range with a class as its start"},
      {"a{70000}", "repeat count above 65535"},
      {"(?~abc)", "group (?~"},
      {"[abc", "unterminated ["},
  };
  for (const auto& [pattern, what] : refused) {
    auto t = TranslateHfRegex(pattern, ExplicitClassSpellings());
    ASSERT_FALSE(t.ok()) << pattern;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(t.status().message(), HasSubstr(what)) << pattern;
  }
}

TEST(RegexTranslateTest, WritesOnigurumaMeaningsInPcre2Syntax) {
  auto t = TranslateHfRegex("(?m:a.b)|\\h|a{,3}|(?i-m:x)", ExplicitClassSpellings());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->pcre2, HasSubstr("(?s:a.b)"));  // Oniguruma's (?m) is PCRE2's (?s)
  EXPECT_THAT(t->pcre2, HasSubstr("[\\x{30}-\\x{39}\\x{41}-\\x{46}\\x{61}-\\x{66}]"));
  EXPECT_THAT(t->pcre2, HasSubstr("a{0,3}"));
  EXPECT_THAT(t->pcre2, HasSubstr("(?i-s:x)"));
  // A class of everything matches every character, newlines included; its complement nothing.
  std::vector<Pcre2Regex::Match> m;
  ASSERT_TRUE((*Pcre2Regex::Compile("[\\s\\S]"))->FindAll("a\n\xE4\xB8\xAD", &m).ok());
  EXPECT_EQ(m.size(), 3u);
  m.clear();
  ASSERT_TRUE((*Pcre2Regex::Compile("[^\\s\\S]"))->FindAll("a\n\xE4\xB8\xAD", &m).ok());
  EXPECT_TRUE(m.empty());
}

// Every code point of a UTF-8 string, in order (surrogates skipped).
std::string AllCodepoints() {
  std::string all;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (c < 0xD800 || c >= 0xE000) AppendUtf8(c, &all);
  }
  return all;
}

// The code points a compiled class (repeated with +) matches, as ranges.
std::vector<std::pair<char32_t, char32_t>> Members(const std::string& all, const std::string& re) {
  auto regex = Pcre2Regex::Compile(re + "+");
  EXPECT_TRUE(regex.ok()) << re << ": " << regex.status();
  std::vector<Pcre2Regex::Match> m;
  EXPECT_TRUE((*regex)->FindAll(all, &m).ok());
  std::vector<std::pair<char32_t, char32_t>> out;
  for (const auto& x : m) {
    char32_t lo, hi;
    DecodeUtf8(all.data() + x.begin, all.size() - x.begin, &lo);
    size_t back = x.end - 1;
    while ((static_cast<unsigned char>(all[back]) & 0xC0) == 0x80) --back;
    DecodeUtf8(all.data() + back, all.size() - back, &hi);
    if (lo < 0xD800 && hi >= 0xE000) {
      out.push_back({lo, 0xD7FF});
      out.push_back({0xE000, hi});
    } else {
      out.push_back({lo, hi});
    }
  }
  return out;
}

// The PCRE2 spelling of each class matches exactly the reference's members (unicode_tables.inc),
// although PCRE2's own Unicode tables are older.
TEST(RegexTranslateTest, Pcre2ClassesMatchExactlyTheReferenceMembers) {
  const std::string all = AllCodepoints();
  const char* names[] = {"\\p{L}", "\\p{M}", "\\p{N}", "\\p{P}", "\\p{S}", "\\s"};
  for (size_t i = 0; i < kRegexClasses.size(); ++i) {
    std::vector<std::pair<char32_t, char32_t>> want;
    for (const CodepointRange& r : ClassRanges(kRegexClasses[i])) want.push_back({r.lo, r.hi});
    EXPECT_EQ(Members(all, names[i]), want) << names[i];
    std::vector<std::pair<char32_t, char32_t>> complement;
    char32_t next = 0;
    for (const auto& [lo, hi] : want) {
      if (lo > next) complement.push_back({next, lo - 1});
      next = hi + 1;
    }
    if (next <= 0x10FFFF) complement.push_back({next, 0x10FFFF});
    // The subject has no surrogates: cut them out of the expectation.
    std::vector<std::pair<char32_t, char32_t>> no_surrogates;
    for (auto [lo, hi] : complement) {
      if (lo < 0xD800 && hi >= 0xE000) {
        no_surrogates.push_back({lo, 0xD7FF});
        no_surrogates.push_back({0xE000, hi});
      } else if (!(lo >= 0xD800 && hi < 0xE000)) {
        no_surrogates.push_back({lo, hi});
      }
    }
    const std::string negated =
        i + 1 == kRegexClasses.size() ? "\\S" : "\\P" + std::string(names[i] + 2);
    EXPECT_EQ(Members(all, negated), no_surrogates) << negated;
  }
  // U+31350 (CJK extension H) is a letter to the reference, unknown to PCRE2 10.42's tables.
  EXPECT_EQ(CharClassOf(0x31350) & kLetter, kLetter);
}

}  // namespace
}  // namespace r1::tok
