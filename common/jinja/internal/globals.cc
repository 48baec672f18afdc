// Global functions (range, namespace, dict, raise_exception) and argument binding for every
// built-in (see builtins.h).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/jinja/internal/builtins.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/value_format.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

absl::StatusOr<Value> Range(Renderer& r, const CallArgs& a) {
  if (!a.kwargs.empty()) return TypeError("range() takes no keyword arguments");
  if (a.args.empty() || a.args.size() > 3) {
    return TypeError(absl::StrCat("range expected at most 3 arguments, got ", a.args.size()));
  }
  for (const Value& v : a.args) {
    if (v.is_undefined()) return UndefinedError(v);
    if (v.kind() != Value::Kind::kInt && v.kind() != Value::Kind::kBool) {
      return TypeError(
          absl::StrCat("'", v.TypeName(), "' object cannot be interpreted as an integer"));
    }
  }
  int64_t start = 0, stop, step = 1;
  if (a.args.size() == 1) {
    stop = a.args[0].as_int();
  } else {
    start = a.args[0].as_int();
    stop = a.args[1].as_int();
    if (a.args.size() == 3) step = a.args[2].as_int();
  }
  if (step == 0) return absl::InvalidArgumentError("ValueError: range() arg 3 must not be zero");
  // Count without overflow: the distance between two int64 values fits in a uint64.
  uint64_t count = 0;
  if (step > 0 && stop > start) {
    uint64_t span = static_cast<uint64_t>(stop) - static_cast<uint64_t>(start);
    count = (span - 1) / static_cast<uint64_t>(step) + 1;
  } else if (step < 0 && stop < start) {
    uint64_t span = static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
    count = (span - 1) / (static_cast<uint64_t>(-(step + 1)) + 1) + 1;
  }
  if (count > static_cast<uint64_t>(kMaxRange)) {
    return absl::InvalidArgumentError(
        "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
        "(100000).");
  }
  RETURN_IF_ERROR(r.Step(static_cast<int64_t>(count)));
  ValueList items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i)
    items.push_back(Value::Int(start + i * step));
  return Value::List(std::move(items));
}

// dict(*args, **kwargs) as Python builds it (a mapping or a list of pairs, then keywords).
absl::StatusOr<Dict> BuildDict(const CallArgs& a, absl::string_view fn) {
  Dict d;
  if (a.args.size() > 1) {
    return TypeError(absl::StrCat(fn, " expected at most 1 argument, got ", a.args.size()));
  }
  if (a.args.size() == 1) {
    const Value& src = a.args[0];
    if (src.is_dict()) {
      d = src.dict();
    } else if (src.is_list()) {
      for (const Value& pair : src.list()) {
        if (!pair.is_list() || pair.list().size() != 2) {
          return TypeError(absl::StrCat(fn, ": expected a sequence of (key, value) pairs"));
        }
        if (!d.SetTyped(pair.list()[0], pair.list()[1])) return TypeError("unhashable type");
      }
    } else if (src.is_undefined()) {
      return UndefinedError(src);
    } else {
      return TypeError(absl::StrCat("'", src.TypeName(), "' object is not iterable"));
    }
  }
  for (const auto& [k, v] : a.kwargs) d.Set(k, v);
  return d;
}

}  // namespace

bool IsGlobalFunction(absl::string_view name) {
  return name == "range" || name == "namespace" || name == "dict" || name == "raise_exception";
}

absl::StatusOr<Value> CallGlobal(Renderer& r, const std::string& name, const CallArgs& args) {
  if (name == "range") return Range(r, args);
  if (name == "namespace") {
    ASSIGN_OR_RETURN(Dict d, BuildDict(args, "namespace"));
    return Value::NewNamespace(std::move(d));
  }
  if (name == "dict") {
    ASSIGN_OR_RETURN(Dict d, BuildDict(args, "dict"));
    return Value::FromDict(std::move(d));
  }
  if (name == "raise_exception") {
    ASSIGN_OR_RETURN(auto a, BindArgs(args, "raise_exception", {"message"}, 1));
    return absl::InvalidArgumentError(absl::StrCat("TemplateError: ", PyStr(*a[0])));
  }
  return TypeError(absl::StrCat("'", name, "' is not callable"));
}

absl::StatusOr<std::vector<std::optional<Value>>> BindArgs(
    const CallArgs& args, absl::string_view fn, std::initializer_list<absl::string_view> params,
    size_t required) {
  std::vector<absl::string_view> names(params);
  std::vector<std::optional<Value>> out(names.size());
  if (args.args.size() > names.size()) {
    return TypeError(absl::StrCat(fn, "() takes at most ", names.size(), " argument(s) (",
                                  args.args.size(), " given)"));
  }
  for (size_t i = 0; i < args.args.size(); ++i) out[i] = args.args[i];
  for (const auto& [key, value] : args.kwargs) {
    size_t i = 0;
    while (i < names.size() && names[i] != key) ++i;
    if (i == names.size()) {
      return TypeError(absl::StrCat(fn, "() got an unexpected keyword argument '", key, "'"));
    }
    if (out[i].has_value()) {
      return TypeError(absl::StrCat(fn, "() got multiple values for argument '", key, "'"));
    }
    out[i] = value;
  }
  for (size_t i = 0; i < required; ++i) {
    if (!out[i].has_value()) {
      return TypeError(absl::StrCat(fn, "() missing required argument '", names[i], "'"));
    }
  }
  return out;
}

}  // namespace r1::jinja::internal
