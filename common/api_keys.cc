#include "common/api_keys.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"

namespace r1 {

absl::StatusOr<std::vector<std::string>> ParseApiKeys(absl::string_view text,
                                                      absl::string_view source) {
  std::vector<std::string> keys;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.size() > kMaxApiKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_no, ": key longer than ", kMaxApiKeyBytes, " bytes"));
    }
    for (char c : line) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7f) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ":", line_no, ": key contains whitespace or a control character"));
      }
    }
    keys.emplace_back(line);
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no API key in the file"));
  }
  return keys;
}

absl::StatusOr<std::vector<std::string>> LoadApiKeysFile(const std::string& path) {
  auto text = ReadFileBounded(path, kMaxApiKeyFileBytes);
  if (!text.ok()) return text.status();
  return ParseApiKeys(*text, path);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<uint8_t>(diff | (static_cast<uint8_t>(a[i]) ^ static_cast<uint8_t>(b[i])));
  }
  return diff == 0;
}

ApiKeySet::ApiKeySet(const std::vector<std::string>& keys) : count_(keys.size()) {
  for (const std::string& k : keys) width_ = std::max(width_, k.size());
  padded_.assign(count_ * width_, '\0');
  for (size_t i = 0; i < count_; ++i) {
    padded_.replace(i * width_, keys[i].size(), keys[i]);
    lengths_.push_back(keys[i].size());
  }
}

bool ApiKeySet::Matches(absl::string_view presented) const {
  if (count_ == 0) return false;
  // The presented key, cut or zero-padded to the common width; its length is compared apart.
  std::string probe(width_, '\0');
  presented.copy(probe.data(), std::min(presented.size(), width_));
  uint64_t plen = presented.size();
  uint8_t any = 0;
  for (size_t k = 0; k < count_; ++k) {
    const char* key = padded_.data() + k * width_;
    uint64_t diff = static_cast<uint64_t>(lengths_[k]) ^ plen;
    for (size_t i = 0; i < width_; ++i) {
      diff |= static_cast<uint8_t>(key[i]) ^ static_cast<uint8_t>(probe[i]);
    }
    // 1 when diff == 0, without a branch: (diff | -diff) has the top bit set unless diff is 0.
    const uint64_t nonzero = (diff | (0 - diff)) >> 63;
    any = static_cast<uint8_t>(any | static_cast<uint8_t>(1 ^ nonzero));
  }
  return any != 0;
}

bool ApiKeySet::Authorizes(absl::string_view header) const {
  header = absl::StripAsciiWhitespace(header);
  constexpr absl::string_view kBearer = "bearer ";
  if (header.size() < kBearer.size() ||
      !absl::EqualsIgnoreCase(header.substr(0, kBearer.size()), kBearer)) {
    // Still spend the comparison time, so a malformed header is not faster than a wrong key.
    (void)Matches(absl::string_view());
    return false;
  }
  return Matches(absl::StripAsciiWhitespace(header.substr(kBearer.size())));
}

}  // namespace r1
