// Reads the regular expressions of Hugging Face tokenizer.json files (`Split` patterns), which
// Hugging Face tokenizers runs in Oniguruma with its Ruby syntax, and
//
//   - writes the same regex for PCRE2 (TranslatedRegex::pcre2), with the Unicode classes spelled
//     so that they match exactly Oniguruma's members (unicode_tables.inc) although PCRE2's own
//     tables are of an older Unicode version;
//   - gives its canonical form (TranslatedRegex::canonical): the regex with every difference of
//     spelling removed (a literal written raw, as \n, \x0A, \x{A} or \u000A; an escaped or a
//     bare '"'; class members in any order; \p{L}, \p{Letter}, \p{ l }; (?<name>...) or (...)),
//     so that two patterns that differ only in spelling compare equal.
//
// Supported syntax (everything else is refused with InvalidArgument naming the offset, rather
// than risking a different meaning in PCRE2): literals and escaped literals, \t \n \r \f \v \a \e
// \xHH \x{H..} \uHHHH; . ^ $ \A \z \Z \G; the classes \p{L} \p{M} \p{N} \p{P} \p{S} (also their
// long names, \P{..} and \p{^..}), \s \S, \h \H (hex digits); [...] classes with ranges and those
// escapes (no nested classes, no &&, no POSIX brackets); | and groups (...), (?:...),
// (?<name>...), (?=...), (?!...), (?<=...), (?<!...), (?>...), (?#...), options (?i) (?m) and
// (?i-m:...); quantifiers * + ? {n} {n,} {n,m} {,m} with lazy (?) and possessive (+, not after
// {..}) forms. Refused: \d \w \b and their upper-case forms (their Unicode tables are not
// generated here), other \p{..} names, back-references, \K \R \X and other escapes, (?x), absent
// operators.
//
// Oniguruma's Ruby syntax differs from PCRE2's defaults where the translation takes care: ^ and
// $ match at every line (PCRE2_MULTILINE), (?m) is PCRE2's (?s), \h is a hex digit, {,m} is
// {0,m}. Compile the result with PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE and LF newlines.
//
// Stateless and thread-safe.
#ifndef R1_COMMON_TOKENIZER_REGEX_TRANSLATE_H_
#define R1_COMMON_TOKENIZER_REGEX_TRANSLATE_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/unicode.h"

namespace r1::tok {

// The classes a pattern can use, in this order: \p{L} \p{M} \p{N} \p{P} \p{S} \s.
inline constexpr std::array<CharClassBits, 6> kRegexClasses = {kLetter, kMark,   kNumber,
                                                               kPunct,  kSymbol, kSpace};

// How the PCRE2 pattern spells one class: `native` (such as "\\p{L}", a subset of the class in
// PCRE2's tables) plus the `extra` ranges, or, with `native` empty, `extra` alone (all of it).
struct ClassSpelling {
  std::string native;
  std::vector<CodepointRange> extra;
};
using ClassSpellings = std::array<ClassSpelling, kRegexClasses.size()>;

// Every class as its explicit ranges (correct with any PCRE2 build, but slower to match than
// native properties; see Pcre2ClassSpellings() in pcre2_regex.h).
ClassSpellings ExplicitClassSpellings();

struct TranslatedRegex {
  std::string pcre2;
  std::string canonical;
};

// Errors are InvalidArgument, e.g. "unsupported escape \d at offset 3"; the caller adds the file
// and field.
absl::StatusOr<TranslatedRegex> TranslateHfRegex(absl::string_view pattern,
                                                 const ClassSpellings& spellings);

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_REGEX_TRANSLATE_H_
