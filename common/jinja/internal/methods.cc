// Methods of str, dict and list that templates call ('x'.startswith(...), d.get(...), ...;
// see builtins.h). The set is IsSafeMethod() in operators.cc; mutating methods never get here
// (the immutable sandbox refuses them).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/jinja/internal/builtins.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/py_string.h"
#include "common/jinja/internal/value_format.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {
namespace {

using Kind = Value::Kind;

absl::StatusOr<std::string> StrArg(const std::optional<Value>& v, absl::string_view fn) {
  if (!v.has_value() || v->is_none()) return std::string();
  if (v->is_undefined()) return UndefinedError(*v);
  if (!v->is_string()) {
    return TypeError(absl::StrCat(fn, "() argument must be str, not ", v->TypeName()));
  }
  return v->str();
}

absl::StatusOr<int64_t> IntArg(const std::optional<Value>& v, int64_t dflt, absl::string_view fn) {
  if (!v.has_value() || v->is_none()) return dflt;
  if (v->kind() != Kind::kInt && v->kind() != Kind::kBool) {
    return TypeError(
        absl::StrCat(fn, "(): '", v->TypeName(), "' object cannot be interpreted as an integer"));
  }
  return v->as_int();
}

// The code points [start, end) of s, Python-slice style (negative counts from the end).
std::u32string Window(const std::u32string& s, std::optional<int64_t> start,
                      std::optional<int64_t> end) {
  int64_t n = static_cast<int64_t>(s.size());
  auto fix = [n](int64_t x) { return x < 0 ? std::max<int64_t>(0, x + n) : std::min(x, n); };
  int64_t b = start ? fix(*start) : 0, e = end ? fix(*end) : n;
  if (b >= e) return std::u32string();
  return s.substr(b, e - b);
}

absl::StatusOr<Value> AffixTest(const std::string& self, const std::string& name,
                                const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, name, {"prefix", "start", "end"}, 1));
  std::vector<std::string> candidates;
  if (a[0]->is_string()) {
    candidates.push_back(a[0]->str());
  } else if (a[0]->is_tuple()) {
    for (const Value& v : a[0]->list()) {
      if (!v.is_string()) return TypeError("tuple for startswith/endswith must only contain str");
      candidates.push_back(v.str());
    }
  } else {
    if (a[0]->is_undefined()) return UndefinedError(*a[0]);
    return TypeError(
        absl::StrCat(name, " first arg must be str or a tuple of str, not ", a[0]->TypeName()));
  }
  std::string text = self;
  if (a[1].has_value() || a[2].has_value()) {
    std::optional<int64_t> b, e;
    if (a[1] && !a[1]->is_none()) {
      ASSIGN_OR_RETURN(b, IntArg(a[1], 0, name));
    }
    if (a[2] && !a[2]->is_none()) {
      ASSIGN_OR_RETURN(e, IntArg(a[2], 0, name));
    }
    text = EncodeUtf8(Window(DecodeUtf8(self), b, e));
  }
  for (const std::string& c : candidates) {
    bool hit = name == "startswith" ? absl::StartsWith(text, c) : absl::EndsWith(text, c);
    if (hit) return Value::Bool(true);
  }
  return Value::Bool(false);
}

Value StringList(std::vector<std::string> parts) {
  ValueList items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(Value::String(std::move(p)));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> Replace(const std::string& s, const CallArgs& args, size_t max_bytes) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "replace", {"old", "new", "count"}, 2));
  ASSIGN_OR_RETURN(std::string from, StrArg(a[0], "replace"));
  ASSIGN_OR_RETURN(std::string to, StrArg(a[1], "replace"));
  ASSIGN_OR_RETURN(int64_t count, IntArg(a[2], -1, "replace"));
  std::string out;
  int64_t done = 0;
  if (from.empty()) {
    std::u32string cps = DecodeUtf8(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      if (i < cps.size()) AppendUtf8(cps[i], &out);
      if (out.size() > max_bytes) break;
    }
  } else {
    size_t pos = 0;
    while (count < 0 || done < count) {
      size_t hit = s.find(from, pos);
      if (hit == std::string::npos) break;
      out.append(s, pos, hit - pos);
      out += to;
      pos = hit + from.size();
      ++done;
      if (out.size() > max_bytes) break;
    }
    out.append(s, pos, std::string::npos);
  }
  if (out.size() > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a string built by the template exceeds ", max_bytes, " bytes"));
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> Find(const std::string& s, const std::string& name, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, name, {"sub", "start", "end"}, 1));
  ASSIGN_OR_RETURN(std::string sub, StrArg(a[0], name));
  std::u32string cps = DecodeUtf8(s);
  std::optional<int64_t> b, e;
  if (a[1] && !a[1]->is_none()) {
    ASSIGN_OR_RETURN(b, IntArg(a[1], 0, name));
  }
  if (a[2] && !a[2]->is_none()) {
    ASSIGN_OR_RETURN(e, IntArg(a[2], 0, name));
  }
  int64_t n = static_cast<int64_t>(cps.size());
  int64_t offset = b ? (*b < 0 ? std::max<int64_t>(0, *b + n) : std::min(*b, n)) : 0;
  std::string text = EncodeUtf8(Window(cps, b, e));
  if (name == "count") {
    if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(text)) + 1);
    int64_t c = 0;
    for (size_t pos = text.find(sub); pos != std::string::npos;
         pos = text.find(sub, pos + sub.size())) {
      ++c;
    }
    return Value::Int(c);
  }
  size_t hit = (name == "rfind" || name == "rindex") ? text.rfind(sub) : text.find(sub);
  if (hit == std::string::npos) {
    if (name == "index") return absl::InvalidArgumentError("ValueError: substring not found");
    return Value::Int(-1);
  }
  return Value::Int(offset + static_cast<int64_t>(CodePointCount(text.substr(0, hit))));
}

// str.format with automatic and explicit field numbers and keyword fields; conversions !s/!r;
// no format specs.
absl::StatusOr<Value> Format(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      return absl::InvalidArgumentError("ValueError: Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError("ValueError: expected '}' before end of string");
    }
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    char conv = 0;
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      conv = bang + 1 < field.size() ? field[bang + 1] : 0;
      field = field.substr(0, bang);
    }
    if (field.find(':') != std::string::npos || field.find('.') != std::string::npos ||
        field.find('[') != std::string::npos) {
      return absl::InvalidArgumentError("ValueError: format specs are not supported");
    }
    const Value* v = nullptr;
    if (field.empty() || absl::ascii_isdigit(field[0])) {
      size_t idx = field.empty() ? auto_index++ : std::stoul(field.substr(0, 6));
      if (idx >= args.args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("IndexError: Replacement index ", idx,
                                                       " out of range for positional args tuple"));
      }
      v = &args.args[idx];
    } else {
      for (const auto& [k, kv] : args.kwargs) {
        if (k == field) v = &kv;
      }
      if (v == nullptr) return absl::InvalidArgumentError(absl::StrCat("KeyError: '", field, "'"));
    }
    out += conv == 'r' ? PyRepr(*v) : PyStr(*v);
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> StrMethod(Renderer& r, const std::string& s, const std::string& name,
                                const CallArgs& args) {
  if (name == "startswith" || name == "endswith") return AffixTest(s, name, args);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ASSIGN_OR_RETURN(auto a, BindArgs(args, name, {"chars"}));
    StripSide side = name == "strip"    ? StripSide::kBoth
                     : name == "lstrip" ? StripSide::kLeft
                                        : StripSide::kRight;
    if (!a[0].has_value() || a[0]->is_none()) return Value::String(PyStrip(s, side, nullptr));
    ASSIGN_OR_RETURN(std::string chars, StrArg(a[0], name));
    std::u32string set = DecodeUtf8(chars);
    return Value::String(PyStrip(s, side, &set));
  }
  if (name == "split" || name == "rsplit") {
    ASSIGN_OR_RETURN(auto a, BindArgs(args, name, {"sep", "maxsplit"}));
    ASSIGN_OR_RETURN(int64_t maxsplit, IntArg(a[1], -1, name));
    if (!a[0].has_value() || a[0]->is_none()) {
      if (name == "rsplit") return StringList(PyRSplitWhitespace(s, maxsplit));
      return StringList(PySplitWhitespace(s, maxsplit));
    }
    ASSIGN_OR_RETURN(std::string sep, StrArg(a[0], name));
    if (sep.empty()) return absl::InvalidArgumentError("ValueError: empty separator");
    RETURN_IF_ERROR(r.Step(static_cast<int64_t>(s.size() / 64)));
    return StringList(name == "split" ? PySplit(s, sep, maxsplit) : PyRSplit(s, sep, maxsplit));
  }
  if (name == "splitlines") return StringList(PySplitLines(s));
  if (name == "upper") return Value::String(PyUpper(s));
  if (name == "lower") return Value::String(PyLower(s));
  if (name == "title") return Value::String(PyTitle(s));
  if (name == "capitalize") return Value::String(PyCapitalize(s));
  if (name == "replace") return Replace(s, args, r.max_bytes());
  if (name == "find" || name == "rfind" || name == "index" || name == "count") {
    return Find(s, name, args);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ASSIGN_OR_RETURN(auto a, BindArgs(args, name, {"affix"}, 1));
    ASSIGN_OR_RETURN(std::string affix, StrArg(a[0], name));
    if (name == "removeprefix" && absl::StartsWith(s, affix)) {
      return Value::String(s.substr(affix.size()));
    }
    if (name == "removesuffix" && !affix.empty() && absl::EndsWith(s, affix)) {
      return Value::String(s.substr(0, s.size() - affix.size()));
    }
    return Value::String(s);
  }
  if (name == "join") {
    ASSIGN_OR_RETURN(auto a, BindArgs(args, name, {"iterable"}, 1));
    ASSIGN_OR_RETURN(ValueList items, Iterate(*a[0]));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        return TypeError(absl::StrCat("sequence item ", i, ": expected str instance, ",
                                      items[i].TypeName(), " found"));
      }
      if (i > 0) out += s;
      out += items[i].str();
      if (out.size() > r.max_bytes()) {
        return absl::ResourceExhaustedError("a string built by the template is too large");
      }
    }
    return Value::String(std::move(out));
  }
  if (name == "format") return Format(s, args);
  RETURN_IF_ERROR(BindArgs(args, name, {}).status());
  if (name == "islower") return Value::Bool(PyIsLower(s));
  if (name == "isupper") return Value::Bool(PyIsUpper(s));
  bool any = false, all = true;
  for (char32_t c : DecodeUtf8(s)) {
    any = true;
    bool digit = c >= '0' && c <= '9';
    bool alpha = (c < 0x80 && absl::ascii_isalpha(static_cast<char>(c))) ||
                 (c >= 0x80 && !IsPySpace(c) && c != 0xD7 && c != 0xF7);
    if (name == "isdigit") all = all && digit;
    if (name == "isalpha") all = all && alpha;
    if (name == "isalnum") all = all && (alpha || digit);
    if (name == "isspace") all = all && IsPySpace(c);
  }
  return Value::Bool(any && all);
}

absl::StatusOr<Value> DictMethod(const Dict& d, const std::string& name, const CallArgs& args) {
  if (name == "get") {
    ASSIGN_OR_RETURN(auto a, BindArgs(args, "get", {"key", "default"}, 1));
    std::optional<std::string> key = EncodeDictKey(*a[0]);
    if (!key && !a[0]->is_undefined()) {
      return TypeError(absl::StrCat("unhashable type: '", a[0]->TypeName(), "'"));
    }
    if (key) {
      if (const Value* v = d.Find(*key)) return *v;
    }
    return a[1].has_value() ? *a[1] : Value::None();
  }
  RETURN_IF_ERROR(BindArgs(args, name, {}).status());
  ValueList out;
  out.reserve(d.entries.size());
  for (const auto& [k, v] : d.entries) {
    if (name == "keys") {
      out.push_back(d.KeyOf(k));
    } else if (name == "values") {
      out.push_back(v);
    } else {
      out.push_back(Value::Tuple({d.KeyOf(k), v}));
    }
  }
  Value::Seq view = name == "keys"     ? Value::Seq::kDictKeys
                    : name == "values" ? Value::Seq::kDictValues
                                       : Value::Seq::kDictItems;
  return Value::Sequence(std::move(out), view);
}

absl::StatusOr<Value> ListMethod(const ValueList& items, const std::string& name,
                                 const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, name, {"value"}, 1));
  int64_t count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!PyEquals(items[i], *a[0])) continue;
    if (name == "index") return Value::Int(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") return absl::InvalidArgumentError("ValueError: value is not in list");
  return Value::Int(count);
}

}  // namespace

absl::StatusOr<Value> CallMethod(Renderer& r, const Value& self, const std::string& name,
                                 const CallArgs& args) {
  RETURN_IF_ERROR(r.Step());
  if (self.is_string()) return StrMethod(r, self.str(), name, args);
  if (self.is_dict()) return DictMethod(self.dict(), name, args);
  if (self.is_indexable()) return ListMethod(self.list(), name, args);
  return TypeError(absl::StrCat("'", self.TypeName(), "' object has no method '", name, "'"));
}

}  // namespace r1::jinja::internal
