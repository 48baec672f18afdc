// Sequence filters: first, last, join, list, items, map, select/reject(attr), sort, dictsort,
// unique, min, max, sum, reverse, batch (see filters.h). Results that Jinja2 returns as
// generators are generator values (Value::Seq::kGenerator): iterable, always true, without len()
// and not JSON-serializable, as in Python (but, unlike Python's, never exhausted).
#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/jinja/internal/builtins.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/filters.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/py_string.h"
#include "common/jinja/internal/value_format.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {

absl::StatusOr<Value> AttributeOf(const Value& item, const Value& attribute,
                                  const std::optional<Value>& dflt) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    for (absl::string_view p : absl::StrSplit(attribute.str(), '.')) {
      bool digits = !p.empty() &&
                    std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits && p.size() < 18) {
        parts.push_back(Value::Int(std::stoll(std::string(p))));
      } else {
        parts.push_back(Value::String(std::string(p)));
      }
    }
  } else {
    parts.push_back(attribute);
  }
  Value v = item;
  for (const Value& part : parts) {
    ASSIGN_OR_RETURN(v, GetItem(v, part));
    if (dflt.has_value() && v.is_undefined()) v = *dflt;
  }
  return v;
}

Value IgnoreCase(const Value& v) {
  if (v.is_string()) return Value::String(PyLower(v.str()));
  return v;
}

namespace {

absl::StatusOr<ValueList> Items(Renderer& r, const Value& v) {
  ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  RETURN_IF_ERROR(r.Step(static_cast<int64_t>(items.size())));
  return items;
}

absl::StatusOr<Value> First(Renderer& r, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "first", {}).status());
  ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  if (items.empty()) return Value::Undefined("UndefinedError: No first item, sequence was empty.");
  return items.front();
}

absl::StatusOr<Value> Last(Renderer& r, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "last", {}).status());
  if (v.is_list() && (v.seq() == Value::Seq::kGenerator || v.seq() == Value::Seq::kReversed)) {
    return TypeError(absl::StrCat("'", v.TypeName(), "' object is not reversible"));
  }
  ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  if (items.empty()) return Value::Undefined("UndefinedError: No last item, sequence was empty.");
  return items.back();
}

absl::StatusOr<Value> List(Renderer& r, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "list", {}).status());
  ASSIGN_OR_RETURN(ValueList items, Items(r, v));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> Reverse(Renderer& r, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "reverse", {}).status());
  if (v.is_string()) {
    std::u32string cps = DecodeUtf8(v.str());
    std::reverse(cps.begin(), cps.end());
    return Value::String(EncodeUtf8(cps));
  }
  ASSIGN_OR_RETURN(ValueList items, Items(r, v));
  std::reverse(items.begin(), items.end());
  // reversed() of a list (or dict) is an iterator; other iterables become a reversed list.
  if (v.is_indexable() || v.is_dict() || v.seq() == Value::Seq::kDictKeys) {
    return Value::Sequence(std::move(items), Value::Seq::kReversed);
  }
  return Value::List(std::move(items));
}

absl::StatusOr<Value> ItemsFilter(Renderer& r, const Value& v, const CallArgs& args) {
  RETURN_IF_ERROR(BindArgs(args, "items", {}).status());
  if (v.is_undefined()) return Value::Sequence({}, Value::Seq::kGenerator);
  if (!v.is_dict()) return TypeError("Can only get item pairs from a mapping.");
  RETURN_IF_ERROR(r.Step(static_cast<int64_t>(v.dict().entries.size())));
  ValueList out;
  for (const auto& [k, item] : v.dict().entries) {
    out.push_back(Value::Tuple({v.dict().KeyOf(k), item}));
  }
  return Value::Sequence(std::move(out), Value::Seq::kGenerator);
}

absl::StatusOr<Value> Join(Renderer& r, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "join", {"d", "attribute"}));
  std::string sep = a[0].has_value() ? PyStr(*a[0]) : "";
  ASSIGN_OR_RETURN(ValueList items, Items(r, v));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value item = items[i];
    if (a[1].has_value() && !a[1]->is_none()) {
      ASSIGN_OR_RETURN(item, AttributeOf(item, *a[1], std::nullopt));
    }
    if (i > 0) out += sep;
    out += PyStr(item);
    if (out.size() > r.max_bytes()) {
      return absl::ResourceExhaustedError("join output exceeds the output limit");
    }
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> Map(Renderer& r, const Value& v, const CallArgs& args) {
  ValueList items;
  if (v.Truthy()) {
    ASSIGN_OR_RETURN(items, Items(r, v));
  }
  ValueList out;
  if (args.args.empty()) {
    std::optional<Value> attribute, dflt;
    for (const auto& [k, kv] : args.kwargs) {
      if (k == "attribute") {
        attribute = kv;
      } else if (k == "default") {
        dflt = kv;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("FilterArgumentError: Unexpected keyword argument '", k, "'"));
      }
    }
    if (!attribute) {
      return absl::InvalidArgumentError("FilterArgumentError: map requires a filter argument");
    }
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(Value x, AttributeOf(item, *attribute, dflt));
      out.push_back(std::move(x));
    }
    return Value::Sequence(std::move(out), Value::Seq::kGenerator);
  }
  if (!args.args[0].is_string()) {
    return absl::InvalidArgumentError("FilterArgumentError: map requires a filter name");
  }
  std::string name = args.args[0].str();
  if (!IsFilter(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("TemplateRuntimeError: No filter named '", name, "'"));
  }
  CallArgs rest;
  rest.args.assign(args.args.begin() + 1, args.args.end());
  rest.kwargs = args.kwargs;
  for (const Value& item : items) {
    ASSIGN_OR_RETURN(Value x, r.Filter(name, item, rest));
    out.push_back(std::move(x));
  }
  return Value::Sequence(std::move(out), Value::Seq::kGenerator);
}

absl::StatusOr<Value> SelectOrReject(Renderer& r, const Value& v, const CallArgs& args, bool select,
                                     bool by_attr) {
  ValueList items;
  if (v.Truthy()) {
    ASSIGN_OR_RETURN(items, Items(r, v));
  }
  size_t off = 0;
  Value attribute;
  if (by_attr) {
    if (args.args.empty()) {
      return absl::InvalidArgumentError(
          "FilterArgumentError: Missing parameter for attribute name");
    }
    attribute = args.args[0];
    off = 1;
  }
  std::optional<std::string> test;
  CallArgs test_args;
  if (args.args.size() > off) {
    if (!args.args[off].is_string()) return TypeError("the test name must be a string");
    test = args.args[off].str();
    if (!IsTest(*test)) {
      return absl::InvalidArgumentError(
          absl::StrCat("TemplateRuntimeError: No test named '", *test, "'"));
    }
    test_args.args.assign(args.args.begin() + off + 1, args.args.end());
    test_args.kwargs = args.kwargs;
  }
  ValueList out;
  for (const Value& item : items) {
    Value x = item;
    if (by_attr) {
      ASSIGN_OR_RETURN(x, AttributeOf(item, attribute, std::nullopt));
    }
    bool pass;
    if (test) {
      ASSIGN_OR_RETURN(pass, r.Test(*test, x, test_args));
    } else {
      pass = x.Truthy();
    }
    if (pass == select) out.push_back(item);
  }
  return Value::Sequence(std::move(out), Value::Seq::kGenerator);
}

absl::StatusOr<Value> Select(Renderer& r, const Value& v, const CallArgs& a) {
  return SelectOrReject(r, v, a, true, false);
}
absl::StatusOr<Value> Reject(Renderer& r, const Value& v, const CallArgs& a) {
  return SelectOrReject(r, v, a, false, false);
}
absl::StatusOr<Value> SelectAttr(Renderer& r, const Value& v, const CallArgs& a) {
  return SelectOrReject(r, v, a, true, true);
}
absl::StatusOr<Value> RejectAttr(Renderer& r, const Value& v, const CallArgs& a) {
  return SelectOrReject(r, v, a, false, true);
}

// Sorts `items` by `keys` (same length) with Python's stable sorted(); `reverse` keeps equal
// items in their original order, as Python does.
absl::Status SortByKeys(ValueList* items, const ValueList& keys, bool reverse) {
  std::vector<size_t> order(items->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  absl::Status error;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    if (!error.ok()) return false;
    auto c = PyCompare(reverse ? keys[y] : keys[x], reverse ? keys[x] : keys[y], "<");
    if (!c.ok()) {
      error = c.status();
      return false;
    }
    return *c < 0;
  });
  if (!error.ok()) return error;
  ValueList sorted;
  sorted.reserve(items->size());
  for (size_t i : order) sorted.push_back((*items)[i]);
  *items = std::move(sorted);
  return absl::OkStatus();
}

absl::StatusOr<Value> Sort(Renderer& r, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "sort", {"reverse", "case_sensitive", "attribute"}));
  bool reverse = a[0].has_value() && a[0]->Truthy();
  bool case_sensitive = a[1].has_value() && a[1]->Truthy();
  ASSIGN_OR_RETURN(ValueList items, Items(r, v));
  RETURN_IF_ERROR(r.Step(static_cast<int64_t>(items.size()) * 8));
  ValueList keys;
  for (const Value& item : items) {
    Value k = item;
    if (a[2].has_value() && !a[2]->is_none()) {
      if (a[2]->is_string() && a[2]->str().find(',') != std::string::npos) {
        return absl::InvalidArgumentError("sort: several attributes are not supported");
      }
      ASSIGN_OR_RETURN(k, AttributeOf(item, *a[2], std::nullopt));
    }
    keys.push_back(case_sensitive ? k : IgnoreCase(k));
  }
  RETURN_IF_ERROR(SortByKeys(&items, keys, reverse));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> DictSort(Renderer& r, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "dictsort", {"case_sensitive", "by", "reverse"}));
  bool case_sensitive = a[0].has_value() && a[0]->Truthy();
  std::string by = a[1].has_value() ? PyStr(*a[1]) : "key";
  if (by != "key" && by != "value") {
    return absl::InvalidArgumentError(
        "FilterArgumentError: You can only sort by either \"key\" or \"value\"");
  }
  bool reverse = a[2].has_value() && a[2]->Truthy();
  if (!v.is_dict()) {
    if (v.is_undefined()) return UndefinedError(v);
    return TypeError(absl::StrCat("'", v.TypeName(), "' object has no attribute 'items'"));
  }
  ValueList items, keys;
  for (const auto& [k, item] : v.dict().entries) {
    items.push_back(Value::Tuple({v.dict().KeyOf(k), item}));
    Value key = by == "key" ? v.dict().KeyOf(k) : item;
    keys.push_back(case_sensitive ? key : IgnoreCase(key));
  }
  RETURN_IF_ERROR(r.Step(static_cast<int64_t>(items.size()) * 8));
  RETURN_IF_ERROR(SortByKeys(&items, keys, reverse));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> Unique(Renderer& r, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "unique", {"case_sensitive", "attribute"}));
  bool case_sensitive = a[0].has_value() && a[0]->Truthy();
  ASSIGN_OR_RETURN(ValueList items, Items(r, v));
  RETURN_IF_ERROR(r.Step(static_cast<int64_t>(items.size() * items.size() / 16)));
  ValueList out, seen;
  for (const Value& item : items) {
    Value k = item;
    if (a[1].has_value() && !a[1]->is_none()) {
      ASSIGN_OR_RETURN(k, AttributeOf(item, *a[1], std::nullopt));
    }
    if (!case_sensitive) k = IgnoreCase(k);
    if ((k.is_list() && !k.is_tuple()) || k.is_dict()) {
      return TypeError(absl::StrCat("unhashable type: '", k.TypeName(), "'"));
    }
    bool dup = false;
    for (const Value& s : seen) dup = dup || PyEquals(s, k);
    if (dup) continue;
    seen.push_back(k);
    out.push_back(item);
  }
  return Value::Sequence(std::move(out), Value::Seq::kGenerator);
}

absl::StatusOr<Value> MinMax(Renderer& r, const Value& v, const CallArgs& args, bool max) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, max ? "max" : "min", {"case_sensitive", "attribute"}));
  bool case_sensitive = a[0].has_value() && a[0]->Truthy();
  ASSIGN_OR_RETURN(ValueList items, Items(r, v));
  if (items.empty()) {
    return Value::Undefined("UndefinedError: No aggregated item, sequence was empty.");
  }
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    Value k = items[i];
    if (a[1].has_value() && !a[1]->is_none()) {
      ASSIGN_OR_RETURN(k, AttributeOf(items[i], *a[1], std::nullopt));
    }
    if (!case_sensitive) k = IgnoreCase(k);
    if (i == 0) {
      best_key = k;
      continue;
    }
    ASSIGN_OR_RETURN(int c, PyCompare(k, best_key, max ? ">" : "<"));
    if (max ? c > 0 : c < 0) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

absl::StatusOr<Value> Min(Renderer& r, const Value& v, const CallArgs& a) {
  return MinMax(r, v, a, false);
}
absl::StatusOr<Value> Max(Renderer& r, const Value& v, const CallArgs& a) {
  return MinMax(r, v, a, true);
}

absl::StatusOr<Value> Sum(Renderer& r, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "sum", {"attribute", "start"}));
  Value total = a[1].has_value() ? *a[1] : Value::Int(0);
  if (total.is_string()) return TypeError("sum() can't sum strings [use ''.join(seq) instead]");
  ASSIGN_OR_RETURN(ValueList items, Items(r, v));
  for (const Value& item : items) {
    Value x = item;
    if (a[0].has_value() && !a[0]->is_none()) {
      ASSIGN_OR_RETURN(x, AttributeOf(item, *a[0], std::nullopt));
    }
    ASSIGN_OR_RETURN(total, BinaryOp("+", total, x, r.max_bytes()));
  }
  return total;
}

absl::StatusOr<Value> Batch(Renderer& r, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(auto a, BindArgs(args, "batch", {"linecount", "fill_with"}, 1));
  if (a[0]->kind() != Value::Kind::kInt || a[0]->as_int() <= 0) {
    return TypeError("batch(): linecount must be a positive integer");
  }
  size_t n = static_cast<size_t>(a[0]->as_int());
  ASSIGN_OR_RETURN(ValueList items, Items(r, v));
  ValueList out, cur;
  for (const Value& item : items) {
    cur.push_back(item);
    if (cur.size() == n) {
      out.push_back(Value::List(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (a[1].has_value() && !a[1]->is_none()) {
      while (cur.size() < n) cur.push_back(*a[1]);
    }
    out.push_back(Value::List(std::move(cur)));
  }
  return Value::Sequence(std::move(out), Value::Seq::kGenerator);
}

struct Entry {
  absl::string_view name;
  FilterFn fn;
};

constexpr Entry kSequenceFilters[] = {
    {"batch", Batch},       {"dictsort", DictSort}, {"first", First},
    {"items", ItemsFilter}, {"join", Join},         {"last", Last},
    {"list", List},         {"map", Map},           {"max", Max},
    {"min", Min},           {"reject", Reject},     {"rejectattr", RejectAttr},
    {"reverse", Reverse},   {"select", Select},     {"selectattr", SelectAttr},
    {"sort", Sort},         {"sum", Sum},           {"unique", Unique},
};

}  // namespace

FilterFn FindSequenceFilter(absl::string_view name) {
  for (const Entry& e : kSequenceFilters) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace r1::jinja::internal
