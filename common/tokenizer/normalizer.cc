#include "common/tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uchar.h>

#include <algorithm>

#include "absl/status/status.h"
#include "common/tokenizer/unicode.h"

namespace r1::tok {
namespace {

// The Unicode version of Hugging Face's normalization data.
constexpr int kReferenceMajor = 9;
constexpr int kReferenceMinor = 0;

const icu::Normalizer2* IcuNfc() {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(error);
  return U_SUCCESS(error) ? n : nullptr;
}

void IcuNormalize(const icu::Normalizer2& nfc, absl::string_view span, std::string* out) {
  if (span.empty()) return;
  UErrorCode error = U_ZERO_ERROR;
  icu::StringByteSink<std::string> sink(out);
  nfc.normalizeUTF8(0, icu::StringPiece(span.data(), static_cast<int32_t>(span.size())), sink,
                    nullptr, error);
  if (U_FAILURE(error))
    out->append(span.data(), span.size());  // not reached for valid UTF-8 under 2 GiB
}

}  // namespace

absl::StatusOr<std::unique_ptr<NfcNormalizer>> NfcNormalizer::Create() {
  const icu::Normalizer2* nfc = IcuNfc();
  if (nfc == nullptr) return absl::InternalError("ICU: the NFC normalization data is missing");
  static const std::vector<char32_t>* const barriers = [nfc] {
    auto* b = new std::vector<char32_t>();
    for (UChar32 c = 0; c <= 0x10FFFF; ++c) {
      if ((c >= 0xD800 && c < 0xE000) || nfc->isInert(c)) continue;
      UVersionInfo age;
      u_charAge(c, age);
      if (age[0] > kReferenceMajor || (age[0] == kReferenceMajor && age[1] > kReferenceMinor)) {
        b->push_back(static_cast<char32_t>(c));
      }
    }
    return b;
  }();
  auto n = std::unique_ptr<NfcNormalizer>(new NfcNormalizer());
  n->barriers_ = *barriers;
  return n;
}

bool NfcNormalizer::IsBarrier(char32_t c) const {
  return std::binary_search(barriers_.begin(), barriers_.end(), c);
}

void NfcNormalizer::Normalize(absl::string_view text, std::string* out) const {
  const icu::Normalizer2& nfc = *IcuNfc();  // non-null: checked by Create
  UErrorCode error = U_ZERO_ERROR;
  if (text.size() < (1u << 31) &&
      nfc.isNormalizedUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())),
                           error) &&
      U_SUCCESS(error)) {
    out->append(text.data(), text.size());  // most text is already in NFC
    return;
  }
  size_t span = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t c;
    const int len = DecodeUtf8(text.data() + i, text.size() - i, &c);
    if (len == 0) {  // not reached for valid UTF-8
      ++i;
      continue;
    }
    if (IsBarrier(c)) {
      IcuNormalize(nfc, text.substr(span, i - span), out);
      out->append(text.data() + i, static_cast<size_t>(len));
      span = i + static_cast<size_t>(len);
    }
    i += static_cast<size_t>(len);
  }
  IcuNormalize(nfc, text.substr(span), out);
}

}  // namespace r1::tok
