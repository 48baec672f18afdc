// Jinja2's tests (`x is defined`, `x is string`, ...; see builtins.h).
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/jinja/internal/builtins.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/py_string.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {
namespace {

using Kind = Value::Kind;

constexpr absl::string_view kTests[] = {
    "defined", "undefined", "none",   "boolean", "false",    "true",     "integer",
    "float",   "number",    "string", "mapping", "iterable", "sequence", "callable",
    "sameas",  "escaped",   "eq",     "equalto", "==",       "ne",       "!=",
    "lt",      "lessthan",  "<",      "le",      "<=",       "gt",       "greaterthan",
    ">",       "ge",        ">=",     "in",      "odd",      "even",     "divisibleby",
    "lower",   "upper",     "filter", "test"};

absl::StatusOr<int64_t> IntOperand(const Value& v, absl::string_view test) {
  if (v.is_undefined()) return UndefinedError(v);
  if (v.kind() == Kind::kInt || v.kind() == Kind::kBool) return v.as_int();
  return TypeError(absl::StrCat("the '", test, "' test needs an integer, not ", v.TypeName()));
}

}  // namespace

bool IsTest(absl::string_view name) {
  for (absl::string_view t : kTests) {
    if (t == name) return true;
  }
  return false;
}

absl::StatusOr<bool> ApplyTest(Renderer& r, const std::string& name, const Value& v,
                               const CallArgs& args) {
  const Kind k = v.kind();
  if (name == "defined") return k != Kind::kUndefined;
  if (name == "undefined") return k == Kind::kUndefined;
  if (name == "none") return k == Kind::kNone;
  if (name == "boolean") return k == Kind::kBool;
  if (name == "false") return k == Kind::kBool && !v.as_bool();
  if (name == "true") return k == Kind::kBool && v.as_bool();
  if (name == "integer") return k == Kind::kInt;
  if (name == "float") return k == Kind::kFloat;
  if (name == "number") return v.is_number();
  if (name == "string") return k == Kind::kString;
  if (name == "mapping") return k == Kind::kDict;
  if (name == "iterable") {
    return k == Kind::kUndefined || k == Kind::kString || k == Kind::kList || k == Kind::kDict;
  }
  if (name == "sequence") {  // len() and [] (Undefined has both, as in Jinja2)
    return k == Kind::kUndefined || k == Kind::kString || v.is_indexable() || k == Kind::kDict;
  }
  if (name == "callable") return k == Kind::kCallable;
  if (name == "escaped") return false;
  if (name == "filter" || name == "test") {
    if (!v.is_string()) return false;
    return name == "filter" ? IsFilter(v.str()) : IsTest(v.str());
  }
  if (name == "lower" || name == "upper") {
    std::string s = v.is_string() ? v.str() : std::string();
    if (!v.is_string()) return false;
    return name == "lower" ? PyIsLower(s) : PyIsUpper(s);
  }
  if (name == "odd" || name == "even") {
    ASSIGN_OR_RETURN(int64_t n, IntOperand(v, name));
    bool odd = (n % 2) != 0;
    return name == "odd" ? odd : !odd;
  }
  // Tests with one argument.
  ASSIGN_OR_RETURN(auto a, BindArgs(args, name, {"other"}, 1));
  const Value& other = *a[0];
  if (name == "divisibleby") {
    if (v.kind() == Kind::kFloat || other.kind() == Kind::kFloat) {
      if (!v.is_number() || !other.is_number()) return TypeError("divisibleby needs numbers");
      if (other.number() == 0) return absl::InvalidArgumentError("ZeroDivisionError: float modulo");
      return std::fmod(v.number(), other.number()) == 0;
    }
    ASSIGN_OR_RETURN(int64_t x, IntOperand(v, name));
    ASSIGN_OR_RETURN(int64_t y, IntOperand(other, name));
    if (y == 0) {
      return absl::InvalidArgumentError("ZeroDivisionError: integer division or modulo by zero");
    }
    return x % y == 0;
  }
  if (name == "sameas") {
    if (v.kind() != other.kind()) return false;
    switch (k) {
      case Kind::kUndefined:
        return false;
      case Kind::kNone:
        return true;
      case Kind::kBool:
        return v.as_bool() == other.as_bool();
      case Kind::kInt:
        return v.as_int() == other.as_int();  // CPython caches small ints; close enough
      case Kind::kFloat:
        return false;
      default:
        return v.identity() == other.identity();
    }
  }
  if (name == "in") {
    ASSIGN_OR_RETURN(bool in, Contains(other, v));
    return in;
  }
  std::string op = name;
  if (name == "eq" || name == "equalto") op = "==";
  if (name == "ne") op = "!=";
  if (name == "lt" || name == "lessthan") op = "<";
  if (name == "le") op = "<=";
  if (name == "gt" || name == "greaterthan") op = ">";
  if (name == "ge") op = ">=";
  return CompareOp(op, v, other);
}

}  // namespace r1::jinja::internal
