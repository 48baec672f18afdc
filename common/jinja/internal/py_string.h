// Python `str` semantics on UTF-8 std::string, as Jinja2 templates see them: code point length
// and slicing, str.strip/split/rsplit/upper/lower/title/capitalize, repr() of strings and floats,
// and json.dumps string escaping. Every input string must be valid UTF-8 (the interpreter checks
// template sources and context strings once, on entry). Stateless; thread-safe.
//
// Case mapping covers ASCII, Latin-1, Greek and Cyrillic (plus ß -> SS); other letters are left
// as they are. repr() treats C0/C1 controls, the Unicode space and format characters and private
// use code points as non-printable (escaped, as Python does); unassigned code points are printed
// as they are (Python would escape them).
#ifndef R1_COMMON_JINJA_INTERNAL_PY_STRING_H_
#define R1_COMMON_JINJA_INTERNAL_PY_STRING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/tokenizer/unicode.h"

namespace r1::jinja::internal {

// True when `s` is valid, shortest-form UTF-8 without surrogates.
bool IsValidUtf8(absl::string_view s);

// Code points of valid UTF-8 `s`.
std::u32string DecodeUtf8(absl::string_view s);
using tok::AppendUtf8;  // the tokenizer's encoder, one for the project
std::string EncodeUtf8(const std::u32string& s);

// Number of code points (Python len()).
size_t CodePointCount(absl::string_view s);

// Python str.isspace() for one code point.
bool IsPySpace(char32_t cp);

enum class StripSide { kBoth, kLeft, kRight };
// str.strip()/lstrip()/rstrip(): whitespace when `chars` is null, else the code points of *chars.
std::string PyStrip(absl::string_view s, StripSide side, const std::u32string* chars);

// str.split() without a separator (runs of whitespace), maxsplit < 0 meaning no limit.
std::vector<std::string> PySplitWhitespace(absl::string_view s, int64_t maxsplit);
std::vector<std::string> PyRSplitWhitespace(absl::string_view s, int64_t maxsplit);
// str.split(sep, maxsplit) and str.rsplit(sep, maxsplit); `sep` must not be empty.
std::vector<std::string> PySplit(absl::string_view s, absl::string_view sep, int64_t maxsplit);
std::vector<std::string> PyRSplit(absl::string_view s, absl::string_view sep, int64_t maxsplit);
// str.splitlines() (without keepends).
std::vector<std::string> PySplitLines(absl::string_view s);

std::string PyUpper(absl::string_view s);
std::string PyLower(absl::string_view s);
std::string PyTitle(absl::string_view s);
std::string PyCapitalize(absl::string_view s);
// str.islower()/isupper(): at least one cased character and no cased character of the other case.
bool PyIsLower(absl::string_view s);
bool PyIsUpper(absl::string_view s);

// markupsafe.escape(): & < > " ' as &amp; &lt; &gt; &#34; &#39;.
std::string HtmlEscape(absl::string_view s);

// repr(str): quotes and escapes as CPython does.
std::string PyStringRepr(absl::string_view s);
// repr(float) (also str(float)): shortest round trip, "1.0", "1e+16", "1e-05", "inf", "nan".
std::string PyFloatRepr(double d);
// json.dumps(str): a quoted JSON string; with ensure_ascii=false only '"', '\\' and control
// characters below U+0020 are escaped.
std::string PyJsonString(absl::string_view s, bool ensure_ascii);

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_PY_STRING_H_
