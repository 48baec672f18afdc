#include "common/tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "common/tokenizer/unicode.h"

namespace r1::tok {
namespace {

bool Printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

const std::array<char32_t, 256>& Table() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) t[b] = Printable(b) ? static_cast<char32_t>(b) : next++;
    return t;
  }();
  return table;
}

}  // namespace

char32_t ByteToChar(unsigned char b) { return Table()[b]; }

int CharToByte(char32_t c) {
  static const std::array<int16_t, 256 + 68> inverse = [] {
    std::array<int16_t, 256 + 68> inv;
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) inv[Table()[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  return c < inverse.size() ? inverse[c] : -1;
}

std::string BytesToByteLevel(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) AppendUtf8(ByteToChar(b), &out);
  return out;
}

bool ByteLevelToBytes(absl::string_view token, std::string* bytes) {
  bytes->clear();
  size_t i = 0;
  while (i < token.size()) {
    char32_t c;
    int len = DecodeUtf8(token.data() + i, token.size() - i, &c);
    if (len == 0) return false;
    int b = CharToByte(c);
    if (b < 0) return false;
    bytes->push_back(static_cast<char>(b));
    i += len;
  }
  return true;
}

std::string ByteLevelDecodeToken(absl::string_view token) {
  std::string bytes;
  if (ByteLevelToBytes(token, &bytes)) return bytes;
  return std::string(token);
}

}  // namespace r1::tok
