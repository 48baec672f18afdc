// UTF-8 and Unicode helpers for the tokenizer: validation, decoding, lossy (U+FFFD) conversion
// with the same replacement rule as Rust's String::from_utf8_lossy and Python's
// bytes.decode("utf-8", "replace"), and the character classes the DeepSeek-V3 pre-tokenizer's
// regexes use. Stateless and thread-safe (the class table is built once, on first use).
#ifndef R1_COMMON_TOKENIZER_UNICODE_H_
#define R1_COMMON_TOKENIZER_UNICODE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace r1::tok {

// An inclusive range of code points.
struct CodepointRange {
  char32_t lo;
  char32_t hi;
};

// Bits of CharClassOf(). kLetter..kSymbol are the general categories \p{L}, \p{M}, \p{N}, \p{P},
// \p{S} and kSpace is \s, all as Oniguruma (the regex engine of Hugging Face tokenizers) defines
// them; kCjk is stage 2's [一-龥぀-ゟ゠-ヿ] (U+4E00..U+9FA5, U+3040..U+30FF).
enum CharClassBits : uint8_t {
  kLetter = 1,
  kMark = 2,
  kNumber = 4,
  kPunct = 8,
  kSymbol = 16,
  kSpace = 32,
  kCjk = 64,
};

// Class bits of a code point (0 for code points above U+10FFFF).
uint8_t CharClassOf(char32_t cp);

// The sorted, disjoint ranges of one of kLetter, kMark, kNumber, kPunct, kSymbol or kSpace (as
// Oniguruma defines them, see above); empty for any other value.
absl::Span<const CodepointRange> ClassRanges(CharClassBits bit);

// Decodes the UTF-8 scalar value starting at p[0] (n bytes available). Returns its length 1..4
// and sets *cp, or 0 when the bytes there are not a complete, valid, shortest-form sequence
// (surrogates and values above U+10FFFF are invalid).
int DecodeUtf8(const char* p, size_t n, char32_t* cp);

// Byte offset of the first invalid UTF-8 sequence in `s`, or absl::string_view::npos.
size_t FindInvalidUtf8(absl::string_view s);

// Appends the UTF-8 encoding of `cp` to *out.
void AppendUtf8(char32_t cp, std::string* out);

// Appends `bytes` to *out as valid UTF-8, replacing each maximal ill-formed subsequence by one
// U+FFFD (Unicode's "substitution of maximal subparts", as Rust and Python do).
//
// With `final` false, a trailing incomplete sequence that could still become valid is not
// consumed; the return value is the number of bytes consumed, so a streaming caller keeps
// bytes.substr(return value) and prepends it to the next chunk. Feeding a byte stream in any
// chunking this way (and the last chunk with `final` true) produces exactly the text of one
// call on the whole stream with `final` true. With `final` true everything is consumed.
size_t AppendUtf8Lossy(absl::string_view bytes, bool final, std::string* out);

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_UNICODE_H_
