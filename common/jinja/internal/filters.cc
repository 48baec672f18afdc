// Text and number filters (trim, tojson, default, int, round, indent, ...) and the filter
// dispatch (see builtins.h, filters.h).
#include "common/jinja/internal/filters.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/jinja/internal/builtins.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/py_string.h"
#include "common/jinja/internal/value_format.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {
namespace {

using Kind = Value::Kind;

absl::StatusOr<Value> Default(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "default", {"default_value", "boolean"}));
  Value dflt = a[0].has_value() ? *a[0] : Value::String("");
  bool boolean = a[1].has_value() && a[1]->Truthy();
  if (v.is_undefined() || (boolean && !v.Truthy())) return dflt;
  return v;
}

absl::StatusOr<Value> LengthFilter(Renderer&, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "length", {}).status());
  ASSIGN_OR_RETURN(int64_t n, Length(v));
  return Value::Int(n);
}

absl::StatusOr<Value> Trim(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "trim", {"chars"}));
  std::string s = PyStr(v);
  if (!a[0].has_value() || a[0]->is_none())
    return Value::String(PyStrip(s, StripSide::kBoth, nullptr));
  if (!a[0]->is_string()) return TypeError("trim() chars must be a string");
  std::u32string chars = DecodeUtf8(a[0]->str());
  return Value::String(PyStrip(s, StripSide::kBoth, &chars));
}

absl::StatusOr<Value> CaseFilter(const Value& v, const CallArgs& args, absl::string_view name) {
  RETURN_IF_ERROR(BindArgs(args, name, {}).status());
  std::string s = PyStr(v);
  if (name == "upper") return Value::String(PyUpper(s));
  if (name == "lower") return Value::String(PyLower(s));
  if (name == "title") return Value::String(PyTitle(s));
  return Value::String(PyCapitalize(s));
}
absl::StatusOr<Value> Upper(Renderer&, const Value& v, const CallArgs& a) {
  return CaseFilter(v, a, "upper");
}
absl::StatusOr<Value> Lower(Renderer&, const Value& v, const CallArgs& a) {
  return CaseFilter(v, a, "lower");
}
absl::StatusOr<Value> Title(Renderer&, const Value& v, const CallArgs& a) {
  return CaseFilter(v, a, "title");
}
absl::StatusOr<Value> Capitalize(Renderer&, const Value& v, const CallArgs& a) {
  return CaseFilter(v, a, "capitalize");
}

absl::StatusOr<Value> String(Renderer&, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "string", {}).status());
  if (v.is_string()) return v;  // soft_str keeps a Markup a Markup
  return Value::String(PyStr(v));
}

absl::StatusOr<Value> Escape(Renderer&, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "escape", {}).status());
  if (v.is_markup()) return v;
  return Value::Markup(HtmlEscape(PyStr(v)));
}

absl::StatusOr<Value> ToJson(Renderer& r, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a,
                   BindArgs(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"}));
  JsonDumpOptions o;
  o.ensure_ascii = a[0].has_value() && a[0]->Truthy();
  if (a[1].has_value() && !a[1]->is_none()) {
    if (a[1]->is_string()) {
      o.indent = a[1]->str();
    } else if (a[1]->kind() == Kind::kInt || a[1]->kind() == Kind::kBool) {
      o.indent = std::string(std::max<int64_t>(0, std::min<int64_t>(a[1]->as_int(), 256)), ' ');
    } else {
      return TypeError("tojson(): indent must be an int or a string");
    }
  }
  if (a[2].has_value() && !a[2]->is_none()) {
    if (!a[2]->is_list() || a[2]->list().size() != 2 || !a[2]->list()[0].is_string() ||
        !a[2]->list()[1].is_string()) {
      return TypeError("tojson(): separators must be a pair of strings");
    }
    o.item_separator = a[2]->list()[0].str();
    o.key_separator = a[2]->list()[1].str();
  }
  o.sort_keys = a[3].has_value() && a[3]->Truthy();
  ASSIGN_OR_RETURN(std::string s, PyJsonDumps(v, o));
  RETURN_IF_ERROR(r.Step(static_cast<int64_t>(s.size() / 64)));
  if (s.size() > r.max_bytes()) {
    return absl::ResourceExhaustedError("tojson output exceeds the output limit");
  }
  return Value::String(std::move(s));
}

// Python int(s, base) for base 10 (or 2..36 without prefixes): whitespace, sign, digits with
// single underscores between them.
std::optional<int64_t> ParseInt(const std::string& text, int base) {
  std::string s(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i == s.size()) return std::nullopt;
  uint64_t v = 0;
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (neg ? 1 : 0);
  bool prev_digit = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      if (!prev_digit || i + 1 == s.size()) return std::nullopt;
      prev_digit = false;
      continue;
    }
    int d = absl::ascii_isdigit(c)   ? c - '0'
            : absl::ascii_isalpha(c) ? absl::ascii_tolower(c) - 'a' + 10
                                     : 99;
    if (d >= base) return std::nullopt;
    if (v > (limit - d) / base) return std::nullopt;
    v = v * base + d;
    prev_digit = true;
  }
  if (!prev_digit) return std::nullopt;
  if (neg) return static_cast<int64_t>(0 - v);
  return static_cast<int64_t>(v);
}

// Python float(s): decimal notation, inf, nan (case-insensitive), surrounding whitespace.
std::optional<double> ParseFloat(const std::string& text) {
  std::string s(absl::StripAsciiWhitespace(text));
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !absl::ascii_isdigit(s[i - 1]) ||
          !absl::ascii_isdigit(s[i + 1])) {
        return std::nullopt;
      }
      continue;
    }
    clean.push_back(s[i]);
  }
  std::string lower = absl::AsciiStrToLower(clean);
  std::string body = lower;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) body = body.substr(1);
  if (body == "inf" || body == "infinity" || body == "nan") {
    double d = body == "nan" ? std::numeric_limits<double>::quiet_NaN()
                             : std::numeric_limits<double>::infinity();
    return lower[0] == '-' ? -d : d;
  }
  if (body.empty() || (!absl::ascii_isdigit(body[0]) && body[0] != '.')) return std::nullopt;
  for (char c : body) {
    if (!(absl::ascii_isdigit(c) || c == '.' || c == 'e' || c == '+' || c == '-')) {
      return std::nullopt;
    }
  }
  char* end = nullptr;
  double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return d;
}

absl::StatusOr<Value> Int(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "int", {"default", "base"}));
  Value dflt = a[0].has_value() ? *a[0] : Value::Int(0);
  int64_t base = 10;
  if (a[1].has_value()) {
    if (a[1]->kind() != Kind::kInt || a[1]->as_int() < 2 || a[1]->as_int() > 36) {
      return absl::InvalidArgumentError("ValueError: int() base must be >= 2 and <= 36");
    }
    base = a[1]->as_int();
  }
  switch (v.kind()) {
    case Kind::kInt:
    case Kind::kBool:
      return Value::Int(v.as_int());
    case Kind::kFloat: {
      double d = v.as_float();
      if (std::isnan(d)) return dflt;
      if (std::isinf(d) || std::fabs(d) >= 9.2e18) {
        return absl::InvalidArgumentError("OverflowError: cannot convert float to int");
      }
      return Value::Int(static_cast<int64_t>(std::trunc(d)));
    }
    case Kind::kString: {
      if (auto i = ParseInt(v.str(), static_cast<int>(base))) return Value::Int(*i);
      auto d = ParseFloat(v.str());
      if (!d || std::isnan(*d)) return dflt;
      if (std::isinf(*d) || std::fabs(*d) >= 9.2e18) {
        return absl::InvalidArgumentError("OverflowError: cannot convert float to int");
      }
      return Value::Int(static_cast<int64_t>(std::trunc(*d)));
    }
    default:
      return dflt;
  }
}

absl::StatusOr<Value> Float(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "float", {"default"}));
  Value dflt = a[0].has_value() ? *a[0] : Value::Float(0.0);
  if (v.is_number()) return Value::Float(v.number());
  if (v.is_string()) {
    if (auto d = ParseFloat(v.str())) return Value::Float(*d);
  }
  return dflt;
}

absl::StatusOr<Value> Abs(Renderer&, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "abs", {}).status());
  if (v.kind() == Kind::kFloat) return Value::Float(std::fabs(v.as_float()));
  if (v.kind() == Kind::kInt || v.kind() == Kind::kBool) {
    if (v.as_int() == std::numeric_limits<int64_t>::min()) {
      return absl::InvalidArgumentError("OverflowError: integer overflow");
    }
    return Value::Int(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  if (v.is_undefined()) return UndefinedError(v);
  return TypeError(absl::StrCat("bad operand type for abs(): '", v.TypeName(), "'"));
}

absl::StatusOr<Value> Round(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "round", {"precision", "method"}));
  int64_t precision = 0;
  if (a[0].has_value()) {
    if (a[0]->kind() != Kind::kInt && a[0]->kind() != Kind::kBool) {
      return TypeError("round(): precision must be an integer");
    }
    precision = a[0]->as_int();
  }
  std::string method = a[1].has_value() ? PyStr(*a[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    return absl::InvalidArgumentError("FilterArgumentError: method must be common, ceil or floor");
  }
  if (v.is_undefined()) return UndefinedError(v);
  if (!v.is_number()) {
    return TypeError(absl::StrCat("type ", v.TypeName(), " doesn't define __round__ method"));
  }
  if (method != "common") {
    double scale = std::pow(10.0, static_cast<double>(precision));
    double x = v.number() * scale;
    return Value::Float((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (v.kind() != Kind::kFloat) return Value::Int(v.as_int());  // round(int, n) is an int
  double d = v.as_float();
  if (!std::isfinite(d) || precision > 300) return Value::Float(d);
  if (precision < 0) {
    double scale = std::pow(10.0, static_cast<double>(-precision));
    return Value::Float(std::nearbyint(d / scale) * scale);
  }
  char buf[400];
  std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(precision), d);
  return Value::Float(std::strtod(buf, nullptr));
}

absl::StatusOr<Value> Indent(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "indent", {"width", "first", "blank"}));
  std::string indention = "    ";
  if (a[0].has_value()) {
    if (a[0]->is_string()) {
      indention = a[0]->str();
    } else if (a[0]->kind() == Kind::kInt || a[0]->kind() == Kind::kBool) {
      indention = std::string(std::max<int64_t>(0, std::min<int64_t>(a[0]->as_int(), 4096)), ' ');
    } else {
      return TypeError("indent(): width must be an int or a string");
    }
  }
  bool first = a[1].has_value() && a[1]->Truthy();
  bool blank = a[2].has_value() && a[2]->Truthy();
  std::vector<std::string> lines = PySplitLines(PyStr(v) + "\n");
  std::string rv;
  if (blank) {
    rv = absl::StrJoin(lines, "\n" + indention);
  } else if (!lines.empty()) {
    rv = lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
    }
  }
  if (first) rv = indention + rv;
  return Value::String(std::move(rv));
}

absl::StatusOr<Value> Replace(Renderer& r, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "replace", {"old", "new", "count"}, 2));
  CallArgs m;
  m.args.push_back(Value::String(PyStr(*a[0])));
  m.args.push_back(Value::String(PyStr(*a[1])));
  if (a[2].has_value() && !a[2]->is_none()) m.args.push_back(*a[2]);
  return CallMethod(r, Value::String(PyStr(v)), "replace", m);
}

absl::StatusOr<Value> Format(Renderer&, const Value& v, const CallArgs& args) {
  if (!args.kwargs.empty()) {
    return absl::InvalidArgumentError("FilterArgumentError: format with keywords is not supported");
  }
  ASSIGN_OR_RETURN(std::string s, PercentFormat(PyStr(v), Value::Tuple(args.args)));
  return Value::String(std::move(s));
}

absl::StatusOr<Value> Safe(Renderer&, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "safe", {}).status());
  if (v.is_markup()) return v;
  return Value::Markup(PyStr(v));
}

absl::StatusOr<Value> Attr(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "attr", {"name"}, 1));
  std::string name = PyStr(*a[0]);
  if (v.kind() == Kind::kNamespace || IsSafeMethod(v, name)) return GetAttr(v, name);
  if (v.is_undefined()) return UndefinedError(v);
  return Value::Undefined(
      absl::StrCat("UndefinedError: '", v.TypeName(), " object' has no attribute '", name, "'"));
}

struct Entry {
  absl::string_view name;
  FilterFn fn;
};

constexpr Entry kTextFilters[] = {
    {"abs", Abs},
    {"attr", Attr},
    {"capitalize", Capitalize},
    {"count", LengthFilter},
    {"d", Default},
    {"default", Default},
    {"e", Escape},
    {"escape", Escape},
    {"float", Float},
    {"format", Format},
    {"indent", Indent},
    {"int", Int},
    {"length", LengthFilter},
    {"lower", Lower},
    {"replace", Replace},
    {"round", Round},
    {"safe", Safe},
    {"string", String},
    {"title", Title},
    {"tojson", ToJson},
    {"trim", Trim},
    {"upper", Upper},
};

}  // namespace

FilterFn FindTextFilter(absl::string_view name) {
  for (const Entry& e : kTextFilters) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

bool IsFilter(absl::string_view name) {
  return FindTextFilter(name) != nullptr || FindSequenceFilter(name) != nullptr;
}

absl::StatusOr<Value> ApplyFilter(Renderer& r, const std::string& name, const Value& v,
                                  const CallArgs& args) {
  RETURN_IF_ERROR(r.Step());
  FilterFn fn = FindTextFilter(name);
  if (fn == nullptr) fn = FindSequenceFilter(name);
  if (fn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("TemplateAssertionError: No filter named '", name, "'"));
  }
  return fn(r, v, args);
}

}  // namespace r1::jinja::internal
