// The interpreter's value (see value.h).
#include "common/jinja/internal/value.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/jinja/internal/py_string.h"

namespace r1::jinja::internal {
namespace {

constexpr size_t kIndexThreshold = 16;  // dicts at least this large get a hash index
constexpr int kMaxJsonDepth = 128;

template <typename Json>
absl::StatusOr<Value> Convert(const Json& j, int depth) {
  if (depth > kMaxJsonDepth) {
    return absl::InvalidArgumentError("template context nests deeper than 128 levels");
  }
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return Value::None();
    case nlohmann::json::value_t::boolean:
      return Value::Bool(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::Int(static_cast<int64_t>(u));
      }
      return Value::Float(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::Float(j.template get<double>());
    case nlohmann::json::value_t::string: {
      const auto& s = j.template get_ref<const std::string&>();
      if (!IsValidUtf8(s)) {
        return absl::InvalidArgumentError("template context holds a string that is not UTF-8");
      }
      return Value::String(s);
    }
    case nlohmann::json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& e : j) {
        auto v = Convert(e, depth + 1);
        if (!v.ok()) return v.status();
        items.push_back(*std::move(v));
      }
      return Value::List(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!IsValidUtf8(it.key())) {
          return absl::InvalidArgumentError("template context holds a key that is not UTF-8");
        }
        auto v = Convert(it.value(), depth + 1);
        if (!v.ok()) return v.status();
        d.Set(it.key(), *std::move(v));
      }
      return Value::FromDict(std::move(d));
    }
    case nlohmann::json::value_t::binary:
      break;
  }
  return absl::InvalidArgumentError("template context holds binary JSON data");
}

}  // namespace

Value Value::Undefined(std::string reason) {
  Value v;
  if (!reason.empty()) v.ptr_ = std::make_shared<std::string>(std::move(reason));
  return v;
}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = d;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::make_shared<std::string>(std::move(s));
  return v;
}

Value Value::Markup(std::string s) {
  Value v = String(std::move(s));
  v.markup_ = true;
  return v;
}

Value Value::List(ValueList items) {
  Value v;
  v.kind_ = Kind::kList;
  v.ptr_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::Tuple(ValueList items) { return Sequence(std::move(items), Seq::kTuple); }

Value Value::Sequence(ValueList items, Seq seq) {
  Value v = List(std::move(items));
  v.seq_ = seq;
  return v;
}

Value Value::FromDict(Dict d) {
  Value v;
  v.kind_ = Kind::kDict;
  v.ptr_ = std::make_shared<Dict>(std::move(d));
  return v;
}

Value Value::NewNamespace(Dict attrs) {
  Value v;
  v.kind_ = Kind::kNamespace;
  auto ns = std::make_shared<Namespace>();
  ns->attrs = std::move(attrs);
  v.ptr_ = std::move(ns);
  return v;
}

Value Value::FromCallable(Callable c) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.ptr_ = std::make_shared<Callable>(std::move(c));
  return v;
}

double Value::number() const {
  switch (kind_) {
    case Kind::kBool:
      return b_ ? 1.0 : 0.0;
    case Kind::kInt:
      return static_cast<double>(i_);
    case Kind::kFloat:
      return f_;
    default:
      return 0.0;
  }
}

std::string Value::UndefinedMessage() const {
  if (ptr_ != nullptr) return *static_cast<const std::string*>(ptr_.get());
  return "UndefinedError: value is undefined";
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b_;
    case Kind::kInt:
      return i_ != 0;
    case Kind::kFloat:
      return f_ != 0.0;
    case Kind::kString:
      return !str().empty();
    case Kind::kList:
      return !is_sized() || !list().empty();  // generators are always true
    case Kind::kDict:
      return !dict().entries.empty();
    case Kind::kNamespace:
    case Kind::kCallable:
      return true;
  }
  return false;
}

const char* Value::TypeName() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return markup_ ? "Markup" : "str";
    case Kind::kList:
      switch (seq_) {
        case Seq::kList:
          return "list";
        case Seq::kTuple:
          return "tuple";
        case Seq::kGenerator:
          return "generator";
        case Seq::kReversed:
          return "list_reverseiterator";
        case Seq::kDictKeys:
          return "dict_keys";
        case Seq::kDictValues:
          return "dict_values";
        case Seq::kDictItems:
          return "dict_items";
      }
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kCallable:
      return "function";
  }
  return "object";
}

const Value* Dict::Find(absl::string_view key) const {
  if (!index_.empty()) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries[it->second].second;
  }
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::Set(std::string key, Value value) {
  if (!index_.empty()) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      entries[it->second].second = std::move(value);
      return;
    }
    index_.emplace(key, entries.size());
    entries.emplace_back(std::move(key), std::move(value));
    return;
  }
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
  if (entries.size() >= kIndexThreshold) {
    for (size_t i = 0; i < entries.size(); ++i) index_.emplace(entries[i].first, i);
  }
}

bool Dict::SetTyped(const Value& key, Value value) {
  std::optional<std::string> stored = EncodeDictKey(key);
  if (!stored) return false;
  if (!key.is_string() && Find(*stored) == nullptr) typed_keys_.emplace_back(*stored, key);
  Set(*std::move(stored), std::move(value));
  return true;
}

Value Dict::KeyOf(const std::string& stored) const {
  if (stored.empty() || static_cast<unsigned char>(stored[0]) != 0xFF) {
    return Value::String(stored);
  }
  for (const auto& [k, v] : typed_keys_) {
    if (k == stored) return v;
  }
  return DecodeDictKey(stored);
}

// Stored keys of non-string type start with 0xFF, a byte no UTF-8 string contains.
std::optional<std::string> EncodeDictKey(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kString:
      return key.str();
    case Value::Kind::kBool:
    case Value::Kind::kInt:
      return absl::StrCat(
          "\xff"
          "i",
          key.as_int());
    case Value::Kind::kFloat: {
      double d = key.as_float();
      if (d == static_cast<double>(static_cast<int64_t>(d)) && std::fabs(d) < 9.2e18) {
        return absl::StrCat(
            "\xff"
            "i",
            static_cast<int64_t>(d));
      }
      std::string bits(sizeof(d), '\0');
      std::memcpy(bits.data(), &d, sizeof(d));
      return absl::StrCat(
          "\xff"
          "f",
          bits);
    }
    case Value::Kind::kNone:
      return std::string(
          "\xff"
          "n");
    default:
      return std::nullopt;
  }
}

Value DecodeDictKey(const std::string& stored) {
  if (stored.empty() || static_cast<unsigned char>(stored[0]) != 0xFF) {
    return Value::String(stored);
  }
  if (stored[1] == 'i') return Value::Int(std::stoll(stored.substr(2)));
  if (stored[1] == 'f' && stored.size() == 2 + sizeof(double)) {
    double d;
    std::memcpy(&d, stored.data() + 2, sizeof(d));
    return Value::Float(d);
  }
  return Value::None();
}

absl::StatusOr<Value> ValueFromJson(const nlohmann::ordered_json& j) { return Convert(j, 0); }
absl::StatusOr<Value> ValueFromJson(const nlohmann::json& j) { return Convert(j, 0); }

}  // namespace r1::jinja::internal
