#include "common/tokenizer/unicode.h"

#include <vector>

namespace r1::tok {
namespace {

#include "common/tokenizer/unicode_tables.inc"

constexpr char32_t kMaxCodepoint = 0x10FFFF;

template <size_t N>
void Mark(const CodepointRange (&ranges)[N], uint8_t bit, std::vector<uint8_t>* table) {
  for (const CodepointRange& r : ranges) {
    for (char32_t c = r.lo; c <= r.hi; ++c) (*table)[c] |= bit;
  }
}

// One byte of class bits per code point (1.1 MB), built once. A flat table keeps the
// pre-tokenizer's inner loop to a single load per character.
const std::vector<uint8_t>& ClassTable() {
  static const std::vector<uint8_t>* const table = [] {
    auto* t = new std::vector<uint8_t>(kMaxCodepoint + 1, 0);
    Mark(kLetterRanges, kLetter, t);
    Mark(kMarkRanges, kMark, t);
    Mark(kNumberRanges, kNumber, t);
    Mark(kPunctRanges, kPunct, t);
    Mark(kSymbolRanges, kSymbol, t);
    Mark(kSpaceRanges, kSpace, t);
    for (char32_t c = 0x4E00; c <= 0x9FA5; ++c) (*t)[c] |= kCjk;
    for (char32_t c = 0x3040; c <= 0x30FF; ++c) (*t)[c] |= kCjk;
    return t;
  }();
  return *table;
}

inline bool IsCont(unsigned char b) { return (b & 0xC0) == 0x80; }

// Length of the sequence a lead byte announces and the allowed range of its second byte (the
// first continuation byte is restricted for E0, ED, F0 and F4). 0 for bytes that never start a
// sequence.
struct Lead {
  int len;
  unsigned char lo;
  unsigned char hi;
};
inline Lead LeadOf(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes at p[0..n) that form a valid prefix of a sequence starting there (>= 1 when
// the lead byte is valid), and whether the whole sequence is present.
int ValidPrefix(const unsigned char* p, size_t n, int* seq_len) {
  Lead lead = LeadOf(p[0]);
  *seq_len = lead.len;
  if (lead.len <= 1) return lead.len;
  int k = 1;
  if (static_cast<size_t>(k) >= n) return k;
  if (p[1] < lead.lo || p[1] > lead.hi) return k;
  for (k = 2; k < lead.len; ++k) {
    if (static_cast<size_t>(k) >= n || !IsCont(p[k])) return k;
  }
  return k;
}

}  // namespace

uint8_t CharClassOf(char32_t cp) { return cp <= kMaxCodepoint ? ClassTable()[cp] : 0; }

absl::Span<const CodepointRange> ClassRanges(CharClassBits bit) {
  switch (bit) {
    case kLetter:
      return kLetterRanges;
    case kMark:
      return kMarkRanges;
    case kNumber:
      return kNumberRanges;
    case kPunct:
      return kPunctRanges;
    case kSymbol:
      return kSymbolRanges;
    case kSpace:
      return kSpaceRanges;
    default:
      return {};
  }
}

int DecodeUtf8(const char* s, size_t n, char32_t* cp) {
  if (n == 0) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  if (p[0] < 0x80) {
    *cp = p[0];
    return 1;
  }
  int len = 0;
  int valid = ValidPrefix(p, n, &len);
  if (len == 0 || valid < len) return 0;
  char32_t c = p[0] & (0xFF >> (len + 1));
  for (int i = 1; i < len; ++i) c = (c << 6) | (p[i] & 0x3F);
  *cp = c;
  return len;
}

size_t FindInvalidUtf8(absl::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    int len = DecodeUtf8(s.data() + i, n - i, &cp);
    if (len == 0) return i;
    i += len;
  }
  return absl::string_view::npos;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t AppendUtf8Lossy(absl::string_view bytes, bool final, std::string* out) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  size_t run = 0;  // start of the pending run of valid bytes, copied in one append
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    int valid = ValidPrefix(p + i, n - i, &len);
    if (len > 0 && valid == len) {
      i += len;
      continue;
    }
    if (len > 0 && i + valid == n && !final) break;  // could still complete: keep it
    out->append(bytes.data() + run, i - run);
    out->append(kReplacement, 3);
    i += valid > 0 ? valid : 1;
    run = i;
  }
  out->append(bytes.data() + run, i - run);
  return i;
}

}  // namespace r1::tok
