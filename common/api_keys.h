// API keys and cluster secrets (DESIGN §10): `Authorization: Bearer <key>` on every OpenAI HTTP
// route but /live and /ready and on every public gRPC method (API keys), and on the cluster plane
// (Attach, Rendezvous, Admin) with the cluster secret. Both come from files in the same format.
//
// ApiKeySet::Matches compares a presented key with every configured key in constant time: every
// key is padded to the same width, every key is compared on every call (no early exit, on a
// match or a mismatch), and each comparison runs over the full width whatever the presented
// key's length, so timing reveals neither which key matched nor how much of one did. (The width,
// i.e. the longest key's length, is not a secret.)
//
// Immutable after construction; thread-safe.
#ifndef R1_COMMON_API_KEYS_H_
#define R1_COMMON_API_KEYS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace r1 {

inline constexpr size_t kMaxApiKeyBytes = 512;
inline constexpr size_t kMaxApiKeyFileBytes = 1 << 20;

// Reads keys from a file: one per line, surrounding whitespace trimmed, blank lines and lines
// starting with '#' ignored. Errors: unreadable or over kMaxApiKeyFileBytes, no key at all, a
// key over kMaxApiKeyBytes or with whitespace or control characters inside (errors name the
// file and line, never the key).
absl::StatusOr<std::vector<std::string>> LoadApiKeysFile(const std::string& path);

// Splits the text of a key file (as above); `source` names it in errors.
absl::StatusOr<std::vector<std::string>> ParseApiKeys(absl::string_view text,
                                                      absl::string_view source);

// Constant-time equality of two strings of the same length (a helper of ApiKeySet, exposed for
// tests).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

class ApiKeySet {
 public:
  ApiKeySet() = default;
  explicit ApiKeySet(const std::vector<std::string>& keys);

  bool empty() const { return count_ == 0; }
  // True when `presented` equals one of the keys (constant time; see the file comment).
  bool Matches(absl::string_view presented) const;
  // Checks an Authorization header value: "Bearer <key>" (scheme case-insensitive).
  bool Authorizes(absl::string_view authorization_header) const;

 private:
  size_t width_ = 0;  // the longest key's length
  size_t count_ = 0;
  std::string padded_;  // count_ keys, each zero-padded to width_
  std::vector<size_t> lengths_;
};

}  // namespace r1

#endif  // R1_COMMON_API_KEYS_H_
