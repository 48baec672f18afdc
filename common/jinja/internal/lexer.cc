// Jinja2's lexer (see lexer.h).
#include "common/jinja/internal/lexer.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/py_string.h"

namespace r1::jinja::internal {
namespace {

// Length of the UTF-8 sequence starting with byte c.
size_t SeqLen(unsigned char c) { return c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2; }

// The code point at s[i] (valid UTF-8) and its length.
char32_t PeekCp(absl::string_view s, size_t i, size_t* len) {
  *len = SeqLen(static_cast<unsigned char>(s[i]));
  std::u32string one = DecodeUtf8(s.substr(i, *len));
  return one.empty() ? 0 : one[0];
}

// Index just past the Python whitespace (re's \s) starting at i.
size_t SkipSpace(absl::string_view s, size_t i) {
  while (i < s.size()) {
    size_t len;
    if (!IsPySpace(PeekCp(s, i, &len))) break;
    i += len;
  }
  return i;
}

// Length of `text` without its trailing Python whitespace (str.rstrip()).
size_t RStripLen(absl::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t len;
    if (!IsPySpace(PeekCp(text, start, &len))) break;
    end = start;
  }
  return end;
}

int CountNewlines(absl::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsNameChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

class Lexer {
 public:
  Lexer(absl::string_view src, const LexOptions& o) : s_(src), o_(o) {}

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < s_.size()) {
      size_t tag = FindTag(pos_);
      if (tag == absl::string_view::npos) {
        EmitText(s_.substr(pos_));
        pos_ = s_.size();
        break;
      }
      char kind = s_[tag + 1];
      char sign = tag + 2 < s_.size() ? s_[tag + 2] : 0;
      if (sign != '-' && sign != '+') sign = 0;
      absl::string_view text = s_.substr(pos_, tag - pos_);
      size_t raw_end = kind == '%' ? MatchRawBegin(tag) : 0;
      EmitText(StripBefore(text, sign, kind != '{'));
      line_ += CountNewlines(text);
      pos_ = tag;
      line_starting_ = false;
      absl::Status st;
      if (raw_end != 0) {
        st = LexRaw(raw_end);
      } else if (kind == '#') {
        st = LexComment(tag + 2 + (sign ? 1 : 0));
      } else {
        st = LexTag(tag, kind, sign);
      }
      if (!st.ok()) return st;
    }
    Token eof;
    eof.type = TokenType::kEof;
    eof.line = line_;
    tokens_.push_back(eof);
    return std::move(tokens_);
  }

 private:
  size_t FindTag(size_t from) const {
    size_t i = s_.find('{', from);
    while (i != absl::string_view::npos && i + 1 < s_.size()) {
      char c = s_[i + 1];
      if (c == '{' || c == '%' || c == '#') return i;
      i = s_.find('{', i + 1);
    }
    return absl::string_view::npos;
  }

  // Applies `-` (strip all whitespace) or lstrip_blocks to the text before a tag.
  absl::string_view StripBefore(absl::string_view text, char sign, bool is_block) const {
    if (sign == '-') return text.substr(0, RStripLen(text));
    if (sign == '+' || !o_.lstrip_blocks || !is_block) return text;
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == absl::string_view::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting_) return text;
    for (size_t i = l_pos; i < text.size(); ++i) {
      if (text[i] != ' ' && text[i] != '\t') return text;
    }
    return text.substr(0, l_pos);
  }

  void EmitText(absl::string_view text) {
    if (text.empty()) return;
    Token t;
    t.type = TokenType::kText;
    t.line = line_;
    t.text = std::string(text);
    tokens_.push_back(std::move(t));
  }

  void Emit(TokenType type, int line, std::string text = "") {
    Token t;
    t.type = type;
    t.line = line;
    t.text = std::move(text);
    tokens_.push_back(std::move(t));
  }

  // Consumes the tail of a block-like tag end starting at i ("+%}", "-%}" or "%}", or the
  // comment forms with '#'); returns the position after it, or npos.
  size_t MatchBlockEnd(size_t i, char close) {
    auto at = [&](size_t k, char c) { return k < s_.size() && s_[k] == c; };
    if ((at(i, '+') || at(i, '-')) && at(i + 1, close) && at(i + 2, '}')) {
      size_t end = i + 3;
      if (s_[i] == '-') end = SkipSpace(s_, end);
      return end;
    }
    if (at(i, close) && at(i + 1, '}')) {
      size_t end = i + 2;
      if (o_.trim_blocks && at(end, '\n')) ++end;
      return end;
    }
    return absl::string_view::npos;
  }

  void Advance(size_t to) {
    line_ += CountNewlines(s_.substr(pos_, to - pos_));
    line_starting_ = to > pos_ && s_[to - 1] == '\n';
    pos_ = to;
  }

  // `{%[-+]? raw \s* (-%}\s* | %})` at tag; returns the position after it, or 0.
  size_t MatchRawBegin(size_t tag) const {
    size_t i = tag + 2;
    if (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) ++i;
    i = SkipSpace(s_, i);
    if (s_.substr(i, 3) != "raw") return 0;
    i = SkipSpace(s_, i + 3);
    if (s_.substr(i, 3) == "-%}") return SkipSpace(s_, i + 3);
    if (s_.substr(i, 2) == "%}") return i + 2;
    return 0;
  }

  absl::Status LexRaw(size_t raw_end) {
    Advance(raw_end);
    size_t search = pos_;
    while (true) {
      size_t open = s_.find("{%", search);
      if (open == absl::string_view::npos) {
        return SyntaxError(line_, "Missing end of raw directive");
      }
      size_t i = open + 2;
      char sign = 0;
      if (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) sign = s_[i++];
      i = SkipSpace(s_, i);
      if (s_.substr(i, 6) == "endraw") {
        size_t end = MatchBlockEnd(SkipSpace(s_, i + 6), '%');
        if (end != absl::string_view::npos) {
          absl::string_view data = StripBefore(s_.substr(pos_, open - pos_), sign, true);
          EmitText(data);
          Advance(end);
          return absl::OkStatus();
        }
      }
      search = open + 2;
    }
  }

  absl::Status LexComment(size_t content) {
    size_t k = s_.find("#}", content);
    if (k == absl::string_view::npos) return SyntaxError(line_, "Missing end of comment tag");
    size_t end;
    if (k > content && (s_[k - 1] == '-' || s_[k - 1] == '+')) {
      end = MatchBlockEnd(k - 1, '#');
    } else {
      end = MatchBlockEnd(k, '#');
    }
    Advance(end);
    return absl::OkStatus();
  }

  absl::Status LexTag(size_t tag, char kind, char sign) {
    bool block = kind == '%';
    int begin_line = line_;
    Emit(block ? TokenType::kBlockBegin : TokenType::kVarBegin, line_);
    Advance(tag + 2 + (sign ? 1 : 0));
    std::vector<char> balance;
    while (true) {
      if (pos_ >= s_.size()) {
        return SyntaxError(begin_line, absl::StrCat("unexpected end of template, expected end of ",
                                                    block ? "block tag" : "print statement"));
      }
      if (balance.empty()) {
        size_t end = absl::string_view::npos;
        if (block) {
          end = MatchBlockEnd(pos_, '%');
        } else if (s_.substr(pos_, 3) == "-}}") {
          end = SkipSpace(s_, pos_ + 3);
        } else if (s_.substr(pos_, 2) == "}}") {
          end = pos_ + 2;
        }
        if (end != absl::string_view::npos) {
          Emit(block ? TokenType::kBlockEnd : TokenType::kVarEnd, line_);
          Advance(end);
          return absl::OkStatus();
        }
      }
      size_t len;
      if (IsPySpace(PeekCp(s_, pos_, &len))) {
        Advance(SkipSpace(s_, pos_));
        continue;
      }
      absl::Status st = LexOne(&balance);
      if (!st.ok()) return st;
    }
  }

  absl::Status LexOne(std::vector<char>* balance) {
    char c = s_[pos_];
    if (IsDigit(c)) return LexNumber();
    if (IsNameStart(c)) {
      size_t e = pos_ + 1;
      while (e < s_.size() && IsNameChar(s_[e])) ++e;
      Emit(TokenType::kName, line_, std::string(s_.substr(pos_, e - pos_)));
      Advance(e);
      return absl::OkStatus();
    }
    if (c == '\'' || c == '"') return LexString();
    static constexpr absl::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (absl::string_view op : kTwo) {
      if (s_.substr(pos_, 2) == op) {
        Emit(TokenType::kOperator, line_, std::string(op));
        Advance(pos_ + 2);
        return absl::OkStatus();
      }
    }
    if (absl::string_view("+-/*%~[](){}=.:|,;<>").find(c) == absl::string_view::npos) {
      return SyntaxError(line_, absl::StrCat("unexpected char '", std::string(1, c), "'"));
    }
    if (c == '(' || c == '[' || c == '{') {
      balance->push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance->empty()) {
        return SyntaxError(line_, absl::StrCat("unexpected '", std::string(1, c), "'"));
      }
      if (balance->back() != c) {
        return SyntaxError(line_, absl::StrCat("unexpected '", std::string(1, c), "', expected '",
                                               std::string(1, balance->back()), "'"));
      }
      balance->pop_back();
    }
    Emit(TokenType::kOperator, line_, std::string(1, c));
    Advance(pos_ + 1);
    return absl::OkStatus();
  }

  // Digits with single underscores between them, from i; returns the end (i when none).
  size_t Digits(size_t i, bool (*is_digit)(char)) const {
    size_t e = i;
    while (e < s_.size() && is_digit(s_[e])) {
      ++e;
      if (e + 1 < s_.size() && s_[e] == '_' && is_digit(s_[e + 1])) ++e;
    }
    return e;
  }

  absl::Status LexNumber() {
    size_t start = pos_;
    bool after_dot = start > 0 && s_[start - 1] == '.';
    char p = start + 1 < s_.size() ? absl::ascii_tolower(s_[start + 1]) : 0;
    if (s_[start] == '0' && (p == 'x' || p == 'o' || p == 'b')) {
      int base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
      size_t e = start + 2;
      std::string digits;
      while (e < s_.size()) {
        char d = s_[e];
        if (d == '_' && e + 1 < s_.size()) {
          ++e;
          d = s_[e];
        }
        int v = absl::ascii_isdigit(d)    ? d - '0'
                : absl::ascii_isxdigit(d) ? absl::ascii_tolower(d) - 'a' + 10
                                          : 99;
        if (v >= base) break;
        digits.push_back(d);
        ++e;
      }
      if (!digits.empty()) {
        uint64_t value = 0;
        for (char d : digits) {
          int v = absl::ascii_isdigit(d) ? d - '0' : absl::ascii_tolower(d) - 'a' + 10;
          if (value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - v) / base) {
            return SyntaxError(line_, "integer literal too large");
          }
          value = value * base + v;
        }
        Token t;
        t.type = TokenType::kInt;
        t.line = line_;
        t.int_value = static_cast<int64_t>(value);
        tokens_.push_back(t);
        Advance(e);
        return absl::OkStatus();
      }
    }
    auto dig = [](char ch) { return ch >= '0' && ch <= '9'; };
    size_t e = Digits(start, dig);
    bool is_float = false;
    if (!after_dot) {
      size_t f = e;
      if (f + 1 < s_.size() && s_[f] == '.' && dig(s_[f + 1])) f = Digits(f + 1, dig);
      size_t x = f;
      if (x < s_.size() && (s_[x] == 'e' || s_[x] == 'E')) {
        size_t y = x + 1;
        if (y < s_.size() && (s_[y] == '+' || s_[y] == '-')) ++y;
        if (y < s_.size() && dig(s_[y])) x = Digits(y, dig);
      }
      if (x > e) {
        is_float = true;
        e = x;
      }
    }
    std::string text;
    for (size_t i = start; i < e; ++i) {
      if (s_[i] != '_') text.push_back(s_[i]);
    }
    Token t;
    t.line = line_;
    if (is_float) {
      t.type = TokenType::kFloat;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.type = TokenType::kInt;
      uint64_t value = 0;
      for (char d : text) {
        if (value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - (d - '0')) / 10) {
          return SyntaxError(line_, "integer literal too large");
        }
        value = value * 10 + (d - '0');
      }
      t.int_value = static_cast<int64_t>(value);
    }
    tokens_.push_back(t);
    Advance(e);
    return absl::OkStatus();
  }

  absl::Status LexString() {
    char q = s_[pos_];
    int start_line = line_;
    size_t i = pos_ + 1;
    std::string out;
    while (true) {
      if (i >= s_.size()) return SyntaxError(start_line, "unterminated string");
      char c = s_[i];
      if (c == q) break;
      if (c != '\\') {
        out.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= s_.size()) return SyntaxError(start_line, "unterminated string");
      char e = s_[i + 1];
      i += 2;
      switch (e) {
        case '\n':
          break;
        case '\\':
        case '\'':
        case '"':
          out.push_back(e);
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int k = 0; k < n; ++k, ++i) {
            if (i >= s_.size() || !absl::ascii_isxdigit(s_[i])) {
              return SyntaxError(start_line, absl::StrCat("truncated \\", std::string(1, e),
                                                          " escape in a string literal"));
            }
            char d = s_[i];
            cp = cp * 16 + (absl::ascii_isdigit(d) ? d - '0' : absl::ascii_tolower(d) - 'a' + 10);
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return SyntaxError(start_line, "invalid code point escape in a string literal");
          }
          AppendUtf8(cp, &out);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = e - '0';
            for (int k = 0; k < 2 && i < s_.size() && s_[i] >= '0' && s_[i] <= '7'; ++k, ++i) {
              cp = cp * 8 + (s_[i] - '0');
            }
            AppendUtf8(cp, &out);
          } else {
            out.push_back('\\');
            --i;  // the character after the backslash is kept as it is
          }
      }
    }
    Token t;
    t.type = TokenType::kString;
    t.line = start_line;
    t.text = std::move(out);
    tokens_.push_back(std::move(t));
    Advance(i + 1);
    return absl::OkStatus();
  }

  absl::string_view s_;
  const LexOptions& o_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source, const LexOptions& options) {
  std::string normalized;
  normalized.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      normalized.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      normalized.push_back(source[i]);
    }
  }
  if (!options.keep_trailing_newline && !normalized.empty() && normalized.back() == '\n') {
    normalized.pop_back();
  }
  Lexer lexer(normalized, options);
  return lexer.Run();
}

}  // namespace r1::jinja::internal
