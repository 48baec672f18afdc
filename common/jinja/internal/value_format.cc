// Python str()/repr()/json.dumps() of values (see value_format.h).
#include "common/jinja/internal/value_format.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/py_string.h"

namespace r1::jinja::internal {
namespace {

void AppendRepr(const Value& v, std::string* out);

void AppendDictRepr(const Dict& d, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const auto& [k, item] : d.entries) {
    if (!first) out->append(", ");
    first = false;
    AppendRepr(d.KeyOf(k), out);
    out->append(": ");
    AppendRepr(item, out);
  }
  out->push_back('}');
}

void AppendStr(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return;
    case Value::Kind::kNone:
      out->append("None");
      return;
    case Value::Kind::kBool:
      out->append(v.as_bool() ? "True" : "False");
      return;
    case Value::Kind::kInt:
      absl::StrAppend(out, v.as_int());
      return;
    case Value::Kind::kFloat:
      out->append(PyFloatRepr(v.as_float()));
      return;
    case Value::Kind::kString:
      out->append(v.str());
      return;
    case Value::Kind::kList: {
      const char* open = "[";
      const char* close = "]";
      switch (v.seq()) {
        case Value::Seq::kList:
          break;
        case Value::Seq::kTuple:
          open = "(";
          close = v.list().size() == 1 ? ",)" : ")";
          break;
        case Value::Seq::kDictKeys:
          open = "dict_keys([";
          close = "])";
          break;
        case Value::Seq::kDictValues:
          open = "dict_values([";
          close = "])";
          break;
        case Value::Seq::kDictItems:
          open = "dict_items([";
          close = "])";
          break;
        case Value::Seq::kGenerator:
          out->append("<generator object>");
          return;
        case Value::Seq::kReversed:
          out->append("<list_reverseiterator object>");
          return;
      }
      out->append(open);
      const ValueList& items = v.list();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out->append(", ");
        AppendRepr(items[i], out);
      }
      out->append(close);
      return;
    }
    case Value::Kind::kDict:
      AppendDictRepr(v.dict(), out);
      return;
    case Value::Kind::kNamespace:
      out->append("<Namespace ");
      AppendDictRepr(v.ns().attrs, out);
      out->push_back('>');
      return;
    case Value::Kind::kCallable: {
      const Callable& c = v.callable();
      if (c.type == Callable::Type::kMethod) {
        absl::StrAppend(out, "<built-in method ", c.name, " of ", c.self.TypeName(), " object>");
      } else if (c.type == Callable::Type::kMacro) {
        absl::StrAppend(out, "<Macro '", c.name, "'>");
      } else {
        absl::StrAppend(out, "<built-in function ", c.name, ">");
      }
      return;
    }
  }
}

void AppendRepr(const Value& v, std::string* out) {
  if (v.is_string()) {
    out->append(PyStringRepr(v.str()));
  } else if (v.is_undefined()) {
    out->append("Undefined");
  } else {
    AppendStr(v, out);
  }
}

// json.dumps turns int, float, bool and None keys into strings.
std::string JsonKey(const Dict& d, const std::string& stored) {
  Value k = d.KeyOf(stored);
  switch (k.kind()) {
    case Value::Kind::kString:
      return k.str();
    case Value::Kind::kNone:
      return "null";
    case Value::Kind::kBool:
      return k.as_bool() ? "true" : "false";
    case Value::Kind::kInt:
      return absl::StrCat(k.as_int());
    default:
      return PyFloatRepr(k.as_float());
  }
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& o) : o_(o) {
    item_sep_ = o.item_separator ? *o.item_separator : (o.indent ? "," : ", ");
    key_sep_ = o.key_separator ? *o.key_separator : ": ";
  }

  absl::Status Write(const Value& v, int level, std::string* out) {
    switch (v.kind()) {
      case Value::Kind::kNone:
        out->append("null");
        return absl::OkStatus();
      case Value::Kind::kBool:
        out->append(v.as_bool() ? "true" : "false");
        return absl::OkStatus();
      case Value::Kind::kInt:
        absl::StrAppend(out, v.as_int());
        return absl::OkStatus();
      case Value::Kind::kFloat: {
        double d = v.as_float();
        if (d != d) {
          out->append("NaN");
        } else if (d == std::numeric_limits<double>::infinity()) {
          out->append("Infinity");
        } else if (d == -std::numeric_limits<double>::infinity()) {
          out->append("-Infinity");
        } else {
          out->append(PyFloatRepr(d));
        }
        return absl::OkStatus();
      }
      case Value::Kind::kString:
        out->append(PyJsonString(v.str(), o_.ensure_ascii));
        return absl::OkStatus();
      case Value::Kind::kList: {
        if (!v.is_indexable()) break;
        const ValueList& items = v.list();
        if (items.empty()) {
          out->append("[]");
          return absl::OkStatus();
        }
        out->push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i > 0) out->append(item_sep_);
          NewLine(level + 1, out);
          absl::Status s = Write(items[i], level + 1, out);
          if (!s.ok()) return s;
        }
        NewLine(level, out);
        out->push_back(']');
        return absl::OkStatus();
      }
      case Value::Kind::kDict: {
        const Dict& d = v.dict();
        if (d.entries.empty()) {
          out->append("{}");
          return absl::OkStatus();
        }
        std::vector<const std::pair<std::string, Value>*> entries;
        bool typed_keys = false;
        for (const auto& e : d.entries) {
          entries.push_back(&e);
          typed_keys = typed_keys || d.KeyOf(e.first).kind() != Value::Kind::kString;
        }
        if (o_.sort_keys) {
          absl::Status error;
          std::stable_sort(entries.begin(), entries.end(), [&](const auto* a, const auto* b) {
            if (!typed_keys) return a->first < b->first;
            auto c = PyCompare(d.KeyOf(a->first), d.KeyOf(b->first), "<");
            if (!c.ok() && error.ok()) error = c.status();
            return c.ok() && *c < 0;
          });
          if (!error.ok()) return error;
        }
        out->push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i > 0) out->append(item_sep_);
          NewLine(level + 1, out);
          out->append(PyJsonString(JsonKey(d, entries[i]->first), o_.ensure_ascii));
          out->append(key_sep_);
          absl::Status s = Write(entries[i]->second, level + 1, out);
          if (!s.ok()) return s;
        }
        NewLine(level, out);
        out->push_back('}');
        return absl::OkStatus();
      }
      case Value::Kind::kUndefined:
      case Value::Kind::kNamespace:
      case Value::Kind::kCallable:
        break;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("TypeError: Object of type ", v.TypeName(), " is not JSON serializable"));
  }

 private:
  void NewLine(int level, std::string* out) {
    if (!o_.indent) return;
    out->push_back('\n');
    for (int i = 0; i < level; ++i) out->append(*o_.indent);
  }

  const JsonDumpOptions& o_;
  std::string item_sep_;
  std::string key_sep_;
};

}  // namespace

std::string PyStr(const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  AppendStr(v, &out);
  return out;
}

std::string PyRepr(const Value& v) {
  std::string out;
  AppendRepr(v, &out);
  return out;
}

absl::StatusOr<std::string> PyJsonDumps(const Value& v, const JsonDumpOptions& options) {
  JsonWriter w(options);
  std::string out;
  absl::Status s = w.Write(v, 0, &out);
  if (!s.ok()) return s;
  return out;
}

}  // namespace r1::jinja::internal
