// GPT-2's byte-level alphabet, as Hugging Face's ByteLevel pre-tokenizer and decoder use it:
// every byte maps to one printable code point ('!'..'~', '¡'..'¬', '®'..'ÿ' map to themselves,
// the other 68 bytes to U+0100.. in order). Stateless and thread-safe.
#ifndef R1_COMMON_TOKENIZER_BYTE_LEVEL_H_
#define R1_COMMON_TOKENIZER_BYTE_LEVEL_H_

#include <string>

#include "absl/strings/string_view.h"

namespace r1::tok {

// The code point byte `b` maps to.
char32_t ByteToChar(unsigned char b);

// The byte code point `c` stands for, or -1 when `c` is not in the alphabet.
int CharToByte(char32_t c);

// Maps raw bytes to their byte-level string (UTF-8).
std::string BytesToByteLevel(absl::string_view bytes);

// The ByteLevel decoder applied to one token string: when every character of `token` is in the
// alphabet, the bytes they stand for; otherwise `token`'s own UTF-8 bytes (Hugging Face keeps
// such tokens, e.g. "<｜User｜>", as they are). `token` must be valid UTF-8.
std::string ByteLevelDecodeToken(absl::string_view token);

// Like ByteLevelDecodeToken but fails (returns false) instead of falling back.
bool ByteLevelToBytes(absl::string_view token, std::string* bytes);

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_BYTE_LEVEL_H_
