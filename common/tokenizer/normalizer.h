// The NFC normalizer of Hugging Face tokenizers (tokenizer.json `"normalizer": {"type": "NFC"}`,
// as in Qwen2), computed with ICU.
//
// Hugging Face normalizes with Unicode 9.0 data (the unicode-normalization-alignments crate
// inside tokenizers 0.22); ICU's data is newer. Unicode's stability policy keeps the data of every
// character that existed in 9.0, so the two differ only on characters added since that take part
// in normalization (combining marks such as U+0898, new compositions): Hugging Face sees them as
// plain starters that never change. Normalize() does the same: such characters stay as they are
// and split the text into spans that ICU normalizes separately, which is exactly Hugging Face's
// result (tests/tokenizers/nfc_cases.json checks every character ICU can change).
//
// Immutable; thread-safe.
#ifndef R1_COMMON_TOKENIZER_NORMALIZER_H_
#define R1_COMMON_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace r1::tok {

class NfcNormalizer {
 public:
  // Fails (Internal) only when ICU's data cannot be loaded.
  static absl::StatusOr<std::unique_ptr<NfcNormalizer>> Create();

  // Appends the NFC form of `text` (valid UTF-8) to *out.
  void Normalize(absl::string_view text, std::string* out) const;

 private:
  NfcNormalizer() = default;
  // True for the characters Hugging Face's tables do not know but ICU would change.
  bool IsBarrier(char32_t c) const;

  std::vector<char32_t> barriers_;  // sorted
};

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_NORMALIZER_H_
