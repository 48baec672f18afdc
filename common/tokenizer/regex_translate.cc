#include "common/tokenizer/regex_translate.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace r1::tok {
namespace {

constexpr char32_t kMaxCodepoint = 0x10FFFF;
// PCRE2's largest repeat count.
constexpr int kMaxRepeat = 65535;
// Index of \h among the class escapes (after the kRegexClasses).
constexpr int kHexClass = static_cast<int>(kRegexClasses.size());

using Ranges = std::vector<CodepointRange>;

void Normalize(Ranges* r) {
  std::sort(r->begin(), r->end(),
            [](const CodepointRange& a, const CodepointRange& b) { return a.lo < b.lo; });
  Ranges out;
  for (const CodepointRange& x : *r) {
    if (!out.empty() && x.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, x.hi);
    } else {
      out.push_back(x);
    }
  }
  *r = std::move(out);
}

// The complement of sorted, disjoint ranges within [0, U+10FFFF].
Ranges Complement(absl::Span<const CodepointRange> r) {
  Ranges out;
  char32_t next = 0;
  for (const CodepointRange& x : r) {
    if (x.lo > next) out.push_back({next, x.lo - 1});
    next = x.hi + 1;
  }
  if (next <= kMaxCodepoint) out.push_back({next, kMaxCodepoint});
  return out;
}

const Ranges& HexDigits() {
  static const Ranges* const r = new Ranges{{'0', '9'}, {'A', 'F'}, {'a', 'f'}};
  return *r;
}

std::string Hex(char32_t c) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\x{%X}", static_cast<unsigned>(c));
  return buf;
}

void AppendRanges(const Ranges& r, std::string* out) {
  for (const CodepointRange& x : r) {
    absl::StrAppend(out, Hex(x.lo));
    if (x.hi != x.lo) absl::StrAppend(out, "-", Hex(x.hi));
  }
}

// Canonical spellings of the classes, in kRegexClasses order.
constexpr const char* kClassCanonical[] = {"\\p{L}", "\\p{M}", "\\p{N}", "\\p{P}", "\\p{S}", "\\s"};
constexpr const char* kComplementCanonical[] = {"\\P{L}", "\\P{M}", "\\P{N}",
                                                "\\P{P}", "\\P{S}", "\\S"};

// A character class: the union of its items, complemented when `negated`.
struct ClassSet {
  bool negated = false;
  Ranges literals;           // literal code points and ranges, \h
  uint32_t classes = 0;      // bit i: kRegexClasses[i]
  uint32_t complements = 0;  // bit i: the complement of kRegexClasses[i] (\S, or \P{L} in [...])
};

// An escape sequence: a literal code point, a class (index into kRegexClasses, or kHexClass), or
// an anchor such as \A.
struct Escape {
  enum Kind { kLiteral, kClass, kAnchor } kind = kLiteral;
  char32_t cp = 0;
  int cls = 0;
  bool negated = false;
  std::string anchor;
};

bool IsHex(char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); }

class Translator {
 public:
  Translator(absl::string_view pattern, const ClassSpellings& spellings)
      : p_(pattern), spellings_(spellings) {}

  absl::StatusOr<TranslatedRegex> Run() {
    while (pos_ < p_.size()) {
      const size_t at = pos_;
      ASSIGN_OR_RETURN(char32_t c, Next());
      const bool after_interval = after_interval_;
      const bool after_exact_interval = after_exact_interval_;
      after_interval_ = after_exact_interval_ = false;
      switch (c) {
        case '\\': {
          ASSIGN_OR_RETURN(Escape e, ParseEscape(/*in_class=*/false, at));
          if (e.kind == Escape::kLiteral) {
            EmitLiteral(e.cp);
          } else if (e.kind == Escape::kAnchor) {
            Emit(e.anchor);
          } else {
            ClassSet set;
            set.negated = e.negated;
            AddClassItem(e.cls, /*complement=*/false, &set);
            EmitClass(set);
          }
          break;
        }
        case '[':
          RETURN_IF_ERROR(ParseClass(at));
          break;
        case '(':
          RETURN_IF_ERROR(ParseGroup(at));
          break;
        case '+':
          if (after_interval) {
            return Error("'+' after {..} (a repeat in Oniguruma, possessive in PCRE2)", at);
          }
          Emit("+");
          break;
        case '?':
          if (after_exact_interval) {
            return Error("'?' after {n} (optional in Oniguruma, lazy in PCRE2)", at);
          }
          Emit("?");
          break;
        case ')':
        case '|':
        case '.':
        case '^':
        case '$':
        case '*':
          Emit(std::string(1, static_cast<char>(c)));
          break;
        case '{': {
          ASSIGN_OR_RETURN(bool interval, TryInterval(at));
          if (!interval) EmitLiteral(c);
          break;
        }
        default:
          EmitLiteral(c);
      }
    }
    return TranslatedRegex{std::move(pcre2_), std::move(canonical_)};
  }

 private:
  absl::Status Error(absl::string_view what, size_t at) const {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported regex syntax: ", what, " at offset ", at, " of ", Quoted()));
  }
  std::string Quoted() const {
    std::string s(p_.substr(0, 80));
    return absl::StrCat("'", s, p_.size() > 80 ? "...'" : "'");
  }

  bool At(char c) const { return pos_ < p_.size() && p_[pos_] == c; }

  absl::StatusOr<char32_t> Next() {
    char32_t c;
    const int len = DecodeUtf8(p_.data() + pos_, p_.size() - pos_, &c);
    if (len == 0) return Error("invalid UTF-8", pos_);
    pos_ += static_cast<size_t>(len);
    return c;
  }

  void Emit(absl::string_view s) {
    pcre2_.append(s.data(), s.size());
    canonical_.append(s.data(), s.size());
  }

  void EmitLiteral(char32_t c) {
    if (c < 0x80 && absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      pcre2_.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7F) {
      pcre2_.push_back('\\');  // any escaped ASCII punctuation or space is literal in PCRE2
      pcre2_.push_back(static_cast<char>(c));
    } else if (c < 0x80) {
      pcre2_.append(Hex(c));
    } else {
      AppendUtf8(c, &pcre2_);
    }
    canonical_.append(Hex(c));
  }

  void AddClassItem(int cls, bool complement, ClassSet* set) const {
    if (cls == kHexClass) {
      const Ranges r = complement ? Complement(HexDigits()) : HexDigits();
      set->literals.insert(set->literals.end(), r.begin(), r.end());
    } else {
      (complement ? set->complements : set->classes) |= 1u << cls;
    }
  }

  void EmitClass(ClassSet set) {
    Normalize(&set.literals);
    std::string canon = set.negated ? "[^" : "[";
    Ranges ranges = set.literals;
    std::string natives;
    for (size_t i = 0; i < kRegexClasses.size(); ++i) {
      if (set.classes & (1u << i)) {
        canon += kClassCanonical[i];
        natives += spellings_[i].native;
        ranges.insert(ranges.end(), spellings_[i].extra.begin(), spellings_[i].extra.end());
      }
    }
    for (size_t i = 0; i < kRegexClasses.size(); ++i) {
      if (set.complements & (1u << i)) {
        canon += kComplementCanonical[i];
        const Ranges c = Complement(ClassRanges(kRegexClasses[i]));
        ranges.insert(ranges.end(), c.begin(), c.end());
      }
    }
    AppendRanges(set.literals, &canon);
    canonical_ += canon + "]";
    Normalize(&ranges);
    if (natives.empty() && ranges.empty()) {
      pcre2_ += set.negated ? "[\\x{0}-\\x{10FFFF}]" : "(?!)";
      return;
    }
    pcre2_ += set.negated ? "[^" : "[";
    pcre2_ += natives;
    AppendRanges(ranges, &pcre2_);
    pcre2_ += "]";
  }

  // Reads hex digits at pos_: exactly `n`, or 1..n when `at_most`.
  absl::StatusOr<char32_t> HexNumber(size_t n, bool at_most, size_t at) {
    size_t k = 0;
    uint32_t v = 0;
    while (k < n && pos_ < p_.size() && IsHex(p_[pos_])) {
      const char h = p_[pos_++];
      v = v * 16 + static_cast<uint32_t>(absl::ascii_isdigit(static_cast<unsigned char>(h))
                                             ? h - '0'
                                             : absl::ascii_tolower(h) - 'a' + 10);
      ++k;
    }
    if (k == 0 || (!at_most && k != n)) return Error("malformed hex escape", at);
    return static_cast<char32_t>(v);
  }

  absl::StatusOr<char32_t> CheckedCodepoint(uint64_t v, size_t at) const {
    if (v > kMaxCodepoint || (v >= 0xD800 && v < 0xE000)) return Error("invalid code point", at);
    return static_cast<char32_t>(v);
  }

  // pos_ is after the backslash at `at`.
  absl::StatusOr<Escape> ParseEscape(bool in_class, size_t at) {
    if (pos_ >= p_.size()) return Error("pattern ends with a backslash", at);
    ASSIGN_OR_RETURN(char32_t c, Next());
    Escape e;
    switch (c) {
      case 't':
        e.cp = '\t';
        return e;
      case 'n':
        e.cp = '\n';
        return e;
      case 'r':
        e.cp = '\r';
        return e;
      case 'f':
        e.cp = '\f';
        return e;
      case 'v':
        e.cp = '\v';
        return e;
      case 'a':
        e.cp = 0x07;
        return e;
      case 'e':
        e.cp = 0x1B;
        return e;
      case 'x': {
        if (At('{')) {
          ++pos_;
          size_t k = 0;
          uint64_t v = 0;
          while (pos_ < p_.size() && IsHex(p_[pos_]) && k < 8) {
            const char h = p_[pos_++];
            v = v * 16 + static_cast<uint64_t>(absl::ascii_isdigit(static_cast<unsigned char>(h))
                                                   ? h - '0'
                                                   : absl::ascii_tolower(h) - 'a' + 10);
            ++k;
          }
          if (k == 0 || !At('}')) return Error("malformed \\x{...}", at);
          ++pos_;
          ASSIGN_OR_RETURN(e.cp, CheckedCodepoint(v, at));
          return e;
        }
        ASSIGN_OR_RETURN(e.cp, HexNumber(2, /*at_most=*/true, at));
        return e;
      }
      case 'u': {
        ASSIGN_OR_RETURN(char32_t v, HexNumber(4, /*at_most=*/false, at));
        ASSIGN_OR_RETURN(e.cp, CheckedCodepoint(v, at));
        return e;
      }
      case 'p':
      case 'P':
        return ParseProperty(c == 'P', at);
      case 's':
      case 'S':
        e.kind = Escape::kClass;
        e.cls = static_cast<int>(kRegexClasses.size()) - 1;
        e.negated = c == 'S';
        return e;
      case 'h':
      case 'H':
        e.kind = Escape::kClass;
        e.cls = kHexClass;
        e.negated = c == 'H';
        return e;
      case 'A':
      case 'z':
      case 'Z':
      case 'G':
        if (in_class) break;
        e.kind = Escape::kAnchor;
        e.anchor = absl::StrCat("\\", std::string(1, static_cast<char>(c)));
        return e;
      default:
        if (c >= 0x80 || !absl::ascii_isalnum(static_cast<unsigned char>(c))) {
          e.cp = c;  // an escaped non-alphanumeric character is itself
          return e;
        }
    }
    return Error(absl::StrCat("escape \\", std::string(1, static_cast<char>(c))), at);
  }

  // pos_ is after \p or \P.
  absl::StatusOr<Escape> ParseProperty(bool negated, size_t at) {
    if (!At('{')) return Error("\\p without {name}", at);
    const size_t close = p_.find('}', pos_);
    if (close == absl::string_view::npos) return Error("unterminated \\p{", at);
    std::string name;
    for (char ch : p_.substr(pos_ + 1, close - pos_ - 1)) {
      if (ch == '^' && name.empty()) {
        negated = !negated;
      } else if (ch != ' ' && ch != '_' && ch != '-') {
        name.push_back(absl::ascii_tolower(static_cast<unsigned char>(ch)));
      }
    }
    pos_ = close + 1;
    static constexpr std::pair<const char*, int> kNames[] = {
        {"l", 0},     {"letter", 0}, {"m", 1}, {"mark", 1},        {"combiningmark", 1},
        {"n", 2},     {"number", 2}, {"p", 3}, {"punctuation", 3}, {"s", 4},
        {"symbol", 4}};
    for (const auto& [n, cls] : kNames) {
      if (name == n) {
        Escape e;
        e.kind = Escape::kClass;
        e.cls = cls;
        e.negated = negated;
        return e;
      }
    }
    return Error(
        absl::StrCat("property \\p{", name, "} (supported: L, M, N, P, S and their long names)"),
        at);
  }

  // pos_ is after the '[' at `at`.
  absl::Status ParseClass(size_t at) {
    ClassSet set;
    if (At('^')) {
      set.negated = true;
      ++pos_;
    }
    bool first = true;
    while (true) {
      if (pos_ >= p_.size()) return Error("unterminated [", at);
      const size_t item_at = pos_;
      if (At(']') && !first) {
        ++pos_;
        break;
      }
      first = false;
      if (At('[')) return Error("nested class or POSIX bracket", item_at);
      if (p_.substr(pos_, 2) == "&&") return Error("class intersection &&", item_at);
      ASSIGN_OR_RETURN(char32_t c, Next());
      char32_t lo = c;
      if (c == '\\') {
        ASSIGN_OR_RETURN(Escape e, ParseEscape(/*in_class=*/true, item_at));
        if (e.kind == Escape::kClass) {
          AddClassItem(e.cls, e.negated, &set);
          if (At('-') && p_.substr(pos_ + 1, 1) != "]") {
            return Error("range with a class as its start", pos_);
          }
          continue;
        }
        lo = e.cp;
      }
      char32_t hi = lo;
      if (At('-') && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        const size_t range_at = pos_;
        ++pos_;
        if (At('[')) return Error("nested class or POSIX bracket", pos_);
        ASSIGN_OR_RETURN(char32_t h, Next());
        if (h == '\\') {
          ASSIGN_OR_RETURN(Escape e, ParseEscape(/*in_class=*/true, range_at + 1));
          if (e.kind != Escape::kLiteral) return Error("range with a class as its end", range_at);
          h = e.cp;
        }
        if (h < lo) return Error("range out of order", range_at);
        hi = h;
      }
      set.literals.push_back({lo, hi});
    }
    EmitClass(std::move(set));
    return absl::OkStatus();
  }

  // pos_ is after the '(' at `at`.
  absl::Status ParseGroup(size_t at) {
    if (!At('?')) {
      Emit("(");
      return absl::OkStatus();
    }
    ++pos_;
    if (pos_ >= p_.size()) return Error("unterminated group", at);
    const char c = p_[pos_];
    if (c == ':' || c == '=' || c == '!' || c == '>') {
      ++pos_;
      Emit(absl::StrCat("(?", std::string(1, c)));
      return absl::OkStatus();
    }
    if (c == '<') {
      ++pos_;
      if (At('=') || At('!')) {
        Emit(absl::StrCat("(?<", std::string(1, p_[pos_])));
        ++pos_;
        return absl::OkStatus();
      }
      const size_t name_begin = pos_;
      while (pos_ < p_.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(p_[pos_])) || p_[pos_] == '_')) {
        ++pos_;
      }
      if (pos_ == name_begin || !At('>') ||
          absl::ascii_isdigit(static_cast<unsigned char>(p_[name_begin]))) {
        return Error("malformed (?<name>", at);
      }
      ++pos_;
      Emit("(");  // names do not change what the pattern matches
      return absl::OkStatus();
    }
    if (c == '#') {
      const size_t close = p_.find(')', pos_);
      if (close == absl::string_view::npos) return Error("unterminated (?#", at);
      pos_ = close + 1;
      return absl::OkStatus();
    }
    // Options: (?i) (?m) (?i-m) ... and (?im:...).
    bool on[2] = {false, false}, off[2] = {false, false};
    bool negative = false;
    while (pos_ < p_.size() && p_[pos_] != ':' && p_[pos_] != ')') {
      const char o = p_[pos_];
      if (o == '-' && !negative) {
        negative = true;
      } else if (o == 'i' || o == 'm') {
        (negative ? off : on)[o == 'm'] = true;
      } else {
        return Error(absl::StrCat("group (?", std::string(1, o)), at);
      }
      ++pos_;
    }
    if (pos_ >= p_.size()) return Error("unterminated group", at);
    const char end = p_[pos_++];
    // Oniguruma's (?m) (dot matches newline) is PCRE2's (?s).
    std::string pcre = "(?", canon = "(?";
    if (on[0]) pcre += "i", canon += "i";
    if (on[1]) pcre += "s", canon += "m";
    if (negative) pcre += "-", canon += "-";
    if (off[0]) pcre += "i", canon += "i";
    if (off[1]) pcre += "s", canon += "m";
    pcre.push_back(end);
    canon.push_back(end);
    pcre2_ += pcre;
    canonical_ += canon;
    return absl::OkStatus();
  }

  // At a '{' already consumed (at `at`): an interval {n} {n,} {n,m} {,m} is emitted (true),
  // anything else is left for the caller to emit as a literal (false).
  absl::StatusOr<bool> TryInterval(size_t at) {
    size_t i = pos_;
    auto number = [&](int64_t* v) {
      const size_t b = i;
      int64_t n = 0;
      while (i < p_.size() && absl::ascii_isdigit(static_cast<unsigned char>(p_[i]))) {
        n = std::min<int64_t>(n * 10 + (p_[i++] - '0'), int64_t{1} << 40);
      }
      *v = n;
      return i > b;
    };
    int64_t lo = 0, hi = 0;
    const bool has_lo = number(&lo);
    bool comma = false, has_hi = false;
    if (i < p_.size() && p_[i] == ',') {
      comma = true;
      ++i;
      has_hi = number(&hi);
    }
    if (i >= p_.size() || p_[i] != '}' || (!has_lo && !has_hi)) return false;
    if (lo > kMaxRepeat || hi > kMaxRepeat) return Error("repeat count above 65535", at);
    pos_ = i + 1;
    std::string q;
    if (!comma) {
      q = absl::StrCat("{", lo, "}");
    } else if (!has_hi) {
      q = absl::StrCat("{", lo, ",}");
    } else {
      q = absl::StrCat("{", lo, ",", hi, "}");
    }
    Emit(q);
    after_interval_ = true;
    after_exact_interval_ = !comma;
    return true;
  }

  absl::string_view p_;
  const ClassSpellings& spellings_;
  size_t pos_ = 0;
  bool after_interval_ = false;
  bool after_exact_interval_ = false;
  std::string pcre2_;
  std::string canonical_;
};

}  // namespace

ClassSpellings ExplicitClassSpellings() {
  ClassSpellings s;
  for (size_t i = 0; i < kRegexClasses.size(); ++i) {
    const auto r = ClassRanges(kRegexClasses[i]);
    s[i].extra.assign(r.begin(), r.end());
  }
  return s;
}

absl::StatusOr<TranslatedRegex> TranslateHfRegex(absl::string_view pattern,
                                                 const ClassSpellings& spellings) {
  return Translator(pattern, spellings).Run();
}

}  // namespace r1::tok
