// Python operators on values (see operators.h).
#include "common/jinja/internal/operators.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/py_string.h"
#include "common/jinja/internal/value_format.h"

namespace r1::jinja::internal {
namespace {

using Kind = Value::Kind;

bool IsIntLike(const Value& v) { return v.kind() == Kind::kInt || v.kind() == Kind::kBool; }

absl::Status Overflow() {
  return absl::InvalidArgumentError(
      "OverflowError: integer result does not fit in 64 bits (the interpreter's ints are "
      "64-bit)");
}

absl::Status Unsupported(absl::string_view op, const Value& a, const Value& b) {
  return TypeError(absl::StrCat("unsupported operand type(s) for ", op, ": '", a.TypeName(),
                                "' and '", b.TypeName(), "'"));
}

absl::Status TooBig(size_t max_bytes) {
  return absl::ResourceExhaustedError(
      absl::StrCat("a string or list built by the template exceeds ", max_bytes, " bytes"));
}

absl::StatusOr<Value> IntPow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) {
      if (__builtin_mul_overflow(result, base, &result)) return Overflow();
    }
    exp >>= 1;
    if (exp > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
  }
  return Value::Int(result);
}

double FloatMod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

double FloatFloorDiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, a / b);
  double fl = std::floor(div);
  if (div - fl > 0.5) fl += 1.0;
  return fl;
}

absl::StatusOr<Value> Repeat(const Value& seq, int64_t n, size_t max_bytes) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (!s.empty() && static_cast<uint64_t>(n) > max_bytes / s.size()) return TooBig(max_bytes);
    std::string out;
    out.reserve(s.size() * n);
    for (int64_t i = 0; i < n; ++i) out += s;
    return seq.is_markup() ? Value::Markup(std::move(out)) : Value::String(std::move(out));
  }
  const ValueList& items = seq.list();
  if (!items.empty() && static_cast<uint64_t>(n) > max_bytes / items.size()) {
    return TooBig(max_bytes);
  }
  ValueList out;
  out.reserve(items.size() * n);
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_tuple() ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
}

absl::StatusOr<Value> Arith(absl::string_view op, const Value& a, const Value& b) {
  if (IsIntLike(a) && IsIntLike(b)) {
    int64_t x = a.as_int(), y = b.as_int(), r;
    if (op == "+") {
      if (__builtin_add_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    }
    if (op == "-") {
      if (__builtin_sub_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    }
    if (op == "*") {
      if (__builtin_mul_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    }
    if (op == "/") {
      if (y == 0) return absl::InvalidArgumentError("ZeroDivisionError: division by zero");
      return Value::Float(static_cast<double>(x) / static_cast<double>(y));
    }
    if (op == "//" || op == "%") {
      if (y == 0) {
        return absl::InvalidArgumentError("ZeroDivisionError: integer division or modulo by zero");
      }
      if (x == std::numeric_limits<int64_t>::min() && y == -1) {
        if (op == "%") return Value::Int(0);
        return Overflow();
      }
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        q -= 1;
        m += y;
      }
      return Value::Int(op == "//" ? q : m);
    }
    if (op == "**") {
      if (y >= 0) return IntPow(x, y);
      if (x == 0) {
        return absl::InvalidArgumentError(
            "ZeroDivisionError: 0.0 cannot be raised to a negative power");
      }
      return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
    }
  }
  double x = a.number(), y = b.number();
  if (op == "+") return Value::Float(x + y);
  if (op == "-") return Value::Float(x - y);
  if (op == "*") return Value::Float(x * y);
  if (op == "/") {
    if (y == 0) return absl::InvalidArgumentError("ZeroDivisionError: float division by zero");
    return Value::Float(x / y);
  }
  if (op == "//") {
    if (y == 0) {
      return absl::InvalidArgumentError("ZeroDivisionError: float floor division by zero");
    }
    return Value::Float(FloatFloorDiv(x, y));
  }
  if (op == "%") {
    if (y == 0) return absl::InvalidArgumentError("ZeroDivisionError: float modulo");
    return Value::Float(FloatMod(x, y));
  }
  // **
  if (x == 0 && y < 0) {
    return absl::InvalidArgumentError(
        "ZeroDivisionError: 0.0 cannot be raised to a negative power");
  }
  if (x < 0 && y != std::floor(y)) {
    return absl::InvalidArgumentError("ValueError: complex results are not supported");
  }
  double r = std::pow(x, y);
  if (std::isinf(r) && !std::isinf(x) && !std::isinf(y)) {
    return absl::InvalidArgumentError("OverflowError: Numerical result out of range");
  }
  return Value::Float(r);
}

}  // namespace

absl::Status UndefinedError(const Value& v) {
  return absl::InvalidArgumentError(v.UndefinedMessage());
}

absl::StatusOr<Value> BinaryOp(absl::string_view op, const Value& a, const Value& b,
                               size_t max_bytes) {
  if (op == "~") {
    std::string s = PyStr(a);
    s += PyStr(b);
    if (s.size() > max_bytes) return TooBig(max_bytes);
    return Value::String(std::move(s));
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  if (a.is_number() && b.is_number()) return Arith(op, a, b);
  if (op == "+") {
    if (a.is_string()) {
      if (!b.is_string()) {
        return TypeError(
            absl::StrCat("can only concatenate str (not \"", b.TypeName(), "\") to str"));
      }
      if (a.str().size() + b.str().size() > max_bytes) return TooBig(max_bytes);
      if (a.is_markup() || b.is_markup()) {  // Markup escapes what is added to it
        std::string left = a.is_markup() ? a.str() : HtmlEscape(a.str());
        std::string right = b.is_markup() ? b.str() : HtmlEscape(b.str());
        if (left.size() + right.size() > max_bytes) return TooBig(max_bytes);
        return Value::Markup(left + right);
      }
      return Value::String(a.str() + b.str());
    }
    if (a.is_indexable()) {
      if (!b.is_indexable() || a.is_tuple() != b.is_tuple()) {
        return TypeError(absl::StrCat("can only concatenate ", a.TypeName(), " (not \"",
                                      b.TypeName(), "\") to ", a.TypeName()));
      }
      if (a.list().size() + b.list().size() > max_bytes) return TooBig(max_bytes);
      ValueList out = a.list();
      out.insert(out.end(), b.list().begin(), b.list().end());
      return a.is_tuple() ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_indexable()) && IsIntLike(b)) {
      return Repeat(a, b.as_int(), max_bytes);
    }
    if ((b.is_string() || b.is_indexable()) && IsIntLike(a)) {
      return Repeat(b, a.as_int(), max_bytes);
    }
    if (a.is_string() || a.is_indexable() || b.is_string() || b.is_indexable()) {
      const Value& other = (a.is_string() || a.is_indexable()) ? b : a;
      return TypeError(
          absl::StrCat("can't multiply sequence by non-int of type '", other.TypeName(), "'"));
    }
  }
  if (op == "%" && a.is_string()) {
    auto s = PercentFormat(a.str(), b, a.is_markup());
    if (!s.ok()) return s.status();
    if (s->size() > max_bytes) return TooBig(max_bytes);
    return a.is_markup() ? Value::Markup(*std::move(s)) : Value::String(*std::move(s));
  }
  return Unsupported(op, a, b);
}

absl::StatusOr<Value> UnaryOp(absl::string_view op, const Value& v) {
  if (op == "not") return Value::Bool(!v.Truthy());
  if (v.is_undefined()) return UndefinedError(v);
  if (!v.is_number()) {
    return TypeError(absl::StrCat("bad operand type for unary ", op, ": '", v.TypeName(), "'"));
  }
  if (op == "+") return v.kind() == Kind::kBool ? Value::Int(v.as_int()) : v;
  if (v.kind() == Kind::kFloat) return Value::Float(-v.as_float());
  if (v.as_int() == std::numeric_limits<int64_t>::min()) return Overflow();
  return Value::Int(-v.as_int());
}

bool PyEquals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (IsIntLike(a) && IsIntLike(b)) return a.as_int() == b.as_int();
    return a.number() == b.number();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.str() == b.str();
    case Kind::kList: {
      if (!a.is_indexable() || !b.is_indexable()) return a.identity() == b.identity();
      if (a.is_tuple() != b.is_tuple() || a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i) {
        if (!PyEquals(a.list()[i], b.list()[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      const Dict& x = a.dict();
      const Dict& y = b.dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.Find(k);
        if (other == nullptr || !PyEquals(v, *other)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

absl::StatusOr<int> PyCompare(const Value& a, const Value& b, absl::string_view op) {
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  if (a.is_number() && b.is_number()) {
    if (IsIntLike(a) && IsIntLike(b)) {
      return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
    }
    double x = a.number(), y = b.number();
    if (x < y) return -1;
    if (x > y) return 1;
    return 0;  // equal or NaN (every comparison with NaN is then false in the caller)
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_indexable() && b.is_indexable() && a.is_tuple() == b.is_tuple()) {
    const ValueList& x = a.list();
    const ValueList& y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!PyEquals(x[i], y[i])) return PyCompare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  return TypeError(absl::StrCat("'", op, "' not supported between instances of '", a.TypeName(),
                                "' and '", b.TypeName(), "'"));
}

absl::StatusOr<bool> CompareOp(absl::string_view op, const Value& a, const Value& b) {
  if (op == "==") return PyEquals(a, b);
  if (op == "!=") return !PyEquals(a, b);
  if (op == "in" || op == "notin") {
    auto r = Contains(b, a);
    if (!r.ok()) return r.status();
    return op == "in" ? *r : !*r;
  }
  bool nan = (a.kind() == Kind::kFloat && std::isnan(a.as_float())) ||
             (b.kind() == Kind::kFloat && std::isnan(b.as_float()));
  auto c = PyCompare(a, b, op);
  if (!c.ok()) return c.status();
  if (nan && a.is_number() && b.is_number()) return false;
  if (op == "<") return *c < 0;
  if (op == "<=") return *c <= 0;
  if (op == ">") return *c > 0;
  return *c >= 0;
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kUndefined:
      return false;
    case Kind::kString:
      if (!item.is_string()) {
        return TypeError(
            absl::StrCat("'in <string>' requires string as left operand, not ", item.TypeName()));
      }
      return container.str().find(item.str()) != std::string::npos;
    case Kind::kList:
      for (const Value& e : container.list()) {
        if (PyEquals(e, item)) return true;
      }
      return false;
    case Kind::kDict: {
      if (item.is_undefined() || item.kind() == Kind::kCallable) return false;
      std::optional<std::string> key = EncodeDictKey(item);
      if (!key) return TypeError(absl::StrCat("unhashable type: '", item.TypeName(), "'"));
      return container.dict().Find(*key) != nullptr;
    }
    default:
      return TypeError(
          absl::StrCat("argument of type '", container.TypeName(), "' is not iterable"));
  }
}

bool IsSafeMethod(const Value& self, absl::string_view name) {
  static constexpr absl::string_view kStr[] = {
      "capitalize", "count",   "endswith", "find",    "format",       "index",       "isalnum",
      "isalpha",    "isdigit", "islower",  "isspace", "isupper",      "join",        "lower",
      "lstrip",     "replace", "rfind",    "rsplit",  "rstrip",       "split",       "splitlines",
      "startswith", "strip",   "title",    "upper",   "removeprefix", "removesuffix"};
  static constexpr absl::string_view kDict[] = {"get", "items", "keys", "values"};
  static constexpr absl::string_view kList[] = {"count", "index"};
  auto in = [&](const auto& names) {
    for (absl::string_view n : names) {
      if (n == name) return true;
    }
    return false;
  };
  if (self.is_string()) return in(kStr);
  if (self.is_dict()) return in(kDict);
  if (self.is_indexable()) return in(kList);
  return false;
}

namespace {

bool IsMutatingMethod(const Value& self, absl::string_view name) {
  static constexpr absl::string_view kDict[] = {"pop", "popitem", "setdefault", "update", "clear"};
  static constexpr absl::string_view kList[] = {"append", "extend",  "insert", "pop",
                                                "remove", "reverse", "sort",   "clear"};
  auto in = [&](const auto& names) {
    for (absl::string_view n : names) {
      if (n == name) return true;
    }
    return false;
  };
  return (self.is_dict() && in(kDict)) ||
         (self.is_list() && self.seq() == Value::Seq::kList && in(kList));
}

Value Missing(const Value& obj, absl::string_view what) {
  return Value::Undefined(
      absl::StrCat("UndefinedError: '", obj.TypeName(), " object' has no attribute ", what));
}

Value BoundMethod(const Value& self, const std::string& name) {
  Callable c;
  c.type = Callable::Type::kMethod;
  c.name = name;
  c.self = self;
  return Value::FromCallable(std::move(c));
}

}  // namespace

absl::StatusOr<Value> GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (IsSafeMethod(obj, name)) return BoundMethod(obj, name);
  if (IsMutatingMethod(obj, name)) {
    return Value::Undefined(absl::StrCat("SecurityError: access to attribute '", name, "' of '",
                                         obj.TypeName(), "' object is unsafe."));
  }
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().Find(name)) return *v;
  } else if (obj.kind() == Kind::kNamespace) {
    if (const Value* v = obj.ns().attrs.Find(name)) return *v;
  }
  return Missing(obj, absl::StrCat("'", name, "'"));
}

absl::StatusOr<Value> GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict()) {
    std::optional<std::string> stored = EncodeDictKey(key);
    if (stored) {
      if (const Value* v = obj.dict().Find(*stored)) return *v;
    }
    if (key.is_string()) return GetAttr(obj, key.str());
    return Missing(obj, PyRepr(key));
  }
  if ((obj.is_indexable() || obj.is_string()) && IsIntLike(key)) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      int64_t n = static_cast<int64_t>(obj.list().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.list()[i];
    } else {
      std::u32string cps = DecodeUtf8(obj.str());
      int64_t n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        std::string ch;
        AppendUtf8(cps[i], &ch);
        return Value::String(std::move(ch));
      }
    }
    return Missing(obj, absl::StrCat(key.as_int()));
  }
  if (key.is_string()) return GetAttr(obj, key.str());
  return Missing(obj, PyRepr(key));
}

absl::StatusOr<Value> SliceOp(const Value& obj, const Value* start, const Value* stop,
                              const Value* step) {
  if (obj.is_undefined()) return UndefinedError(obj);
  auto index = [](const Value* v, bool* ok) -> std::optional<int64_t> {
    if (v == nullptr || v->is_none()) return std::nullopt;
    if (!IsIntLike(*v)) {
      *ok = false;
      return std::nullopt;
    }
    return v->as_int();
  };
  bool ok = true;
  std::optional<int64_t> b = index(start, &ok), e = index(stop, &ok), s = index(step, &ok);
  if (!ok || !(obj.is_indexable() || obj.is_string())) {
    return Value::Undefined("UndefinedError: the value cannot be sliced");
  }
  int64_t st = s.value_or(1);
  if (st == 0) return absl::InvalidArgumentError("ValueError: slice step cannot be zero");
  std::u32string cps;
  int64_t n;
  if (obj.is_string()) {
    cps = DecodeUtf8(obj.str());
    n = static_cast<int64_t>(cps.size());
  } else {
    n = static_cast<int64_t>(obj.list().size());
  }
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= n) {
      x = st < 0 ? n - 1 : n;
    }
    return x;
  };
  int64_t lo = adjust(b, st < 0 ? n - 1 : 0);
  int64_t hi = adjust(e, st < 0 ? -1 : n);
  std::vector<int64_t> picks;
  for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) picks.push_back(i);
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : picks) AppendUtf8(cps[i], &out);
    return Value::String(std::move(out));
  }
  ValueList out;
  for (int64_t i : picks) out.push_back(obj.list()[i]);
  return obj.is_tuple() ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
}

absl::StatusOr<ValueList> Iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return ValueList{};
    case Kind::kList:
      return v.list();
    case Kind::kDict: {
      ValueList keys;
      for (const auto& [k, item] : v.dict().entries) keys.push_back(v.dict().KeyOf(k));
      return keys;
    }
    case Kind::kString: {
      ValueList chars;
      for (char32_t c : DecodeUtf8(v.str())) {
        std::string ch;
        AppendUtf8(c, &ch);
        chars.push_back(Value::String(std::move(ch)));
      }
      return chars;
    }
    default:
      return TypeError(absl::StrCat("'", v.TypeName(), "' object is not iterable"));
  }
}

absl::StatusOr<int64_t> Length(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return 0;
    case Kind::kString:
      return static_cast<int64_t>(CodePointCount(v.str()));
    case Kind::kList:
      if (!v.is_sized()) break;
      return static_cast<int64_t>(v.list().size());
    case Kind::kDict:
      return static_cast<int64_t>(v.dict().entries.size());
    default:
      break;
  }
  return TypeError(absl::StrCat("object of type '", v.TypeName(), "' has no len()"));
}

}  // namespace r1::jinja::internal
