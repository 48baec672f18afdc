#include "common/tokenizer/pre_tokenizer.h"

#include "common/tokenizer/unicode.h"

namespace r1::tok {
namespace {

constexpr uint8_t kLM = kLetter | kMark;
constexpr uint8_t kPS = kPunct | kSymbol;

inline bool IsAsciiPunct(char32_t c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}
inline bool IsAsciiAlpha(char32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
inline bool IsCrLf(char32_t c) { return c == '\r' || c == '\n'; }

// Works on the decoded code points of one text segment; positions are code point indexes.
class Splitter {
 public:
  Splitter(const PreTokenizerScratch& s, std::vector<Piece>* out)
      : cp_(s.cps.data()), cls_(s.classes.data()), off_(s.offsets.data()), out_(out) {}

  // Stage 1: \p{N}{1,3}. Matches are greedy runs of number characters cut every three.
  void Stage1(size_t b, size_t e) {
    size_t gap = b;
    size_t i = b;
    while (i < e) {
      if (!(cls_[i] & kNumber)) {
        ++i;
        continue;
      }
      if (gap < i) Stage2(gap, i);
      size_t j = i;
      while (j < e && j - i < 3 && (cls_[j] & kNumber)) ++j;
      Stage2(i, j);
      i = gap = j;
    }
    if (gap < e) Stage2(gap, e);
  }

 private:
  // Stage 2: [一-龥぀-ゟ゠-ヿ]+.
  void Stage2(size_t b, size_t e) {
    size_t gap = b;
    size_t i = b;
    while (i < e) {
      if (!(cls_[i] & kCjk)) {
        ++i;
        continue;
      }
      if (gap < i) Stage3(gap, i);
      size_t j = i + 1;
      while (j < e && (cls_[j] & kCjk)) ++j;
      Stage3(i, j);
      i = gap = j;
    }
    if (gap < e) Stage3(gap, e);
  }

  // Stage 3: finds successive leftmost matches in [b, e); unmatched characters between them form
  // gap pieces.
  void Stage3(size_t b, size_t e) {
    size_t gap = b;
    size_t i = b;
    while (i < e) {
      size_t j = MatchAt(i, e);
      if (j == 0) {
        ++i;
        continue;
      }
      if (gap < i) Emit(gap, i);
      Emit(i, j);
      i = gap = j;
    }
    if (gap < e) Emit(gap, e);
  }

  size_t LetterMarkRun(size_t j, size_t e) const {
    while (j < e && (cls_[j] & kLM)) ++j;
    return j;
  }

  // End of the match of stage 3's alternation at position i (alternatives tried in order, as a
  // backtracking engine does), or 0 when no alternative matches at i.
  size_t MatchAt(size_t i, size_t e) const {
    const char32_t c = cp_[i];
    const uint8_t k = cls_[i];
    // (a) [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+  — nothing to backtrack.
    if (c < 0x80 && IsAsciiPunct(c) && i + 1 < e && IsAsciiAlpha(cp_[i + 1])) {
      size_t j = i + 2;
      while (j < e && IsAsciiAlpha(cp_[j])) ++j;
      return j;
    }
    // (b) [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ — when c is a letter or mark, either the optional
    // class takes it (only possible for a mark) or it starts the run; both end at the end of the
    // run of letters/marks from i. Otherwise c may be the optional prefix of a run at i + 1.
    if (k & kLM) return LetterMarkRun(i + 1, e);
    if (!IsCrLf(c) && !(k & (kLetter | kPS)) && i + 1 < e && (cls_[i + 1] & kLM)) {
      return LetterMarkRun(i + 2, e);
    }
    // (c)  ?[\p{P}\p{S}]+[\r\n]* — the optional space is taken only when punctuation follows.
    const bool space_then_punct = c == ' ' && i + 1 < e && (cls_[i + 1] & kPS);
    if (space_then_punct || (k & kPS)) {
      size_t j = space_then_punct ? i + 1 : i;
      while (j < e && (cls_[j] & kPS)) ++j;
      while (j < e && IsCrLf(cp_[j])) ++j;
      return j;
    }
    if (!(k & kSpace)) return 0;
    // The maximal whitespace run [i, w).
    size_t w = i + 1;
    while (w < e && (cls_[w] & kSpace)) ++w;
    // (d) \s*[\r\n]+ — \s* gives back characters until [\r\n]+ can match; the first success ends
    // right after the last CR/LF of the run.
    for (size_t t = w; t > i; --t) {
      if (IsCrLf(cp_[t - 1])) return t;
    }
    // (e) \s+(?!\S) — the whole run when it reaches the end of the piece; otherwise the run minus
    // its last character (then followed by whitespace), if that leaves at least one.
    if (w == e) return w;
    if (w - 1 > i) return w - 1;
    // (f) \s+ — a single whitespace character before a non-space.
    return w;
  }

  void Emit(size_t b, size_t e) { out_->push_back(Piece{off_[b], off_[e]}); }

  const char32_t* cp_;
  const uint8_t* cls_;
  const uint32_t* off_;
  std::vector<Piece>* out_;
};

}  // namespace

void PreTokenize(absl::string_view text, PreTokenizerScratch* scratch, std::vector<Piece>* pieces) {
  if (text.empty()) return;
  scratch->cps.clear();
  scratch->offsets.clear();
  scratch->classes.clear();
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    char32_t cp;
    int len;
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      cp = b;
      len = 1;
    } else {
      len = DecodeUtf8(text.data() + i, n - i, &cp);
      if (len == 0) {  // not reached for validated input; treat the byte as its own character
        cp = 0xFFFD;
        len = 1;
      }
    }
    scratch->cps.push_back(cp);
    scratch->offsets.push_back(static_cast<uint32_t>(i));
    scratch->classes.push_back(CharClassOf(cp));
    i += len;
  }
  scratch->offsets.push_back(static_cast<uint32_t>(n));
  Splitter(*scratch, pieces).Stage1(0, scratch->cps.size());
}

}  // namespace r1::tok
