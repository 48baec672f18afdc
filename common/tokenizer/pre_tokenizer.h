// The DeepSeek-V3/R1 pre-tokenizer (spec §11): three regex Split stages with behaviour Isolated,
//
//   stage 1:  \p{N}{1,3}
//   stage 2:  [一-龥぀-ゟ゠-ヿ]+
//   stage 3:  [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
//              ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// each applied to every piece the previous stage produced (so stage 3's lookahead sees the end
// of its piece, not the next character of the text), keeping matches and the gaps between them.
//
// Why hand-written matchers and not RE2 or PCRE2: Hugging Face tokenizers runs these regexes in
// Oniguruma, whose Unicode tables are newer than Debian's RE2 and PCRE2 (its \p{L} differs from
// Unicode 14 on ~9,000 code points); RE2 also lacks the lookahead of `\s+(?!\S)`. Here each
// alternative is a few lines of scanning over character classes generated from the reference
// engine itself (tools/tokenizer/gen_unicode_tables.py), which gives exact parity (tested on
// 20,000+ strings against tokenizers, tests/python/test_tokenizer_parity.py) and is several times
// faster than running three regexes. The backtracking each alternative needs is spelled out at
// its matcher in pre_tokenizer.cc. (Other pipelines do run in PCRE2, with their classes rewritten
// to the reference's members: pre_tokenizer_pipeline.h.)
//
// Stateless and thread-safe.
#ifndef R1_COMMON_TOKENIZER_PRE_TOKENIZER_H_
#define R1_COMMON_TOKENIZER_PRE_TOKENIZER_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace r1::tok {

// A piece of the input as a byte range [begin, end).
struct Piece {
  uint32_t begin;
  uint32_t end;
};

// The three regexes, exactly as DeepSeek-V3/R1's tokenizer.json writes them (stage 3 holds
// literal CR and LF characters). A tokenizer.json whose Split stages spell the same regexes
// differently is recognised too (pre_tokenizer_pipeline.h compares canonical forms).
inline constexpr absl::string_view kDeepSeekSplitRegexes[3] = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
};

// Scratch buffers reused across calls to avoid allocation. Not shared between threads.
struct PreTokenizerScratch {
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;  // byte offset of each code point, plus the end
  std::vector<uint8_t> classes;
};

// Splits `text` (valid UTF-8, at most 4 GiB) into pieces, appended to *pieces in order; their
// concatenation is `text`. Invalid UTF-8 is the caller's responsibility (Tokenizer rejects it).
void PreTokenize(absl::string_view text, PreTokenizerScratch* scratch, std::vector<Piece>* pieces);

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_PRE_TOKENIZER_H_
