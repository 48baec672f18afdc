// The interpreter's value: what a Python object is to Jinja2, restricted to what chat templates
// meet. Undefined (with the reason it is undefined, for error messages), None, bool, int (64-bit;
// overflow is an error, not a big int), float, str (UTF-8; or markupsafe's Markup, which `safe`
// and `escape` return and which escapes what is added to it), sequences (list, tuple, and the
// lazy objects filters and dict methods return in Python: generators, reversed iterators, dict
// views — iterable, but printed, measured and serialized as Python would, or refused),
// dict (insertion ordered; str keys, and int/float/bool/None keys), namespace (the one mutable
// object), and callables (built-in functions, bound methods such as str.startswith, macros,
// loop.cycle).
//
// Copying a Value is cheap: strings, lists, dicts and callables are shared, immutable objects.
// A namespace is shared and mutable, as in Jinja2 (`{% set ns.x = 1 %}` is seen through every
// reference to it). Values live inside one render; they are not shared across threads.
#ifndef R1_COMMON_JINJA_INTERNAL_VALUE_H_
#define R1_COMMON_JINJA_INTERNAL_VALUE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace r1::jinja::internal {

namespace ast {
struct Macro;
}  // namespace ast

class Value;
using ValueList = std::vector<Value>;
struct Dict;
struct Namespace;
struct Callable;

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kCallable,
  };

  // What kind of Python sequence a kList value is.
  enum class Seq : uint8_t {
    kList,
    kTuple,
    kGenerator,   // map/select/reject/... results: no len(), always true, not JSON
    kReversed,    // reversed(list): like a generator
    kDictKeys,    // dict.keys(): len() but no indexing, not JSON
    kDictValues,  // dict.values()
    kDictItems,   // dict.items()
  };

  Value() = default;  // undefined, without a reason
  // `reason` completes "... is undefined" style messages, e.g. "'x' is undefined".
  static Value Undefined(std::string reason);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value String(std::string s);
  static Value Markup(std::string s);  // markupsafe.Markup
  static Value List(ValueList items);
  static Value Tuple(ValueList items);
  static Value Sequence(ValueList items, Seq seq);
  static Value FromDict(Dict d);
  static Value NewNamespace(Dict attrs);
  static Value FromCallable(Callable c);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }
  // Any sequence (list, tuple, generator, view): iterable.
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && seq_ == Seq::kTuple; }
  // A real list or tuple: indexable, sliceable, JSON-serializable.
  bool is_indexable() const {
    return kind_ == Kind::kList && (seq_ == Seq::kList || seq_ == Seq::kTuple);
  }
  // len() works (lists, tuples, dict views; not generators).
  bool is_sized() const {
    return kind_ == Kind::kList && seq_ != Seq::kGenerator && seq_ != Seq::kReversed;
  }
  Seq seq() const { return seq_; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_number() const {
    return kind_ == Kind::kBool || kind_ == Kind::kInt || kind_ == Kind::kFloat;
  }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }  // bool or int
  double as_float() const { return f_; }
  double number() const;  // any is_number() value as a double
  const std::string& str() const { return *static_cast<const std::string*>(ptr_.get()); }
  const ValueList& list() const { return *static_cast<const ValueList*>(ptr_.get()); }
  const Dict& dict() const { return *static_cast<const Dict*>(ptr_.get()); }
  Namespace& ns() const { return *static_cast<Namespace*>(ptr_.get()); }
  const Callable& callable() const { return *static_cast<const Callable*>(ptr_.get()); }
  // The message for using this undefined value ("'x' is undefined" or a generic one).
  std::string UndefinedMessage() const;

  // Python truthiness (Undefined is false).
  bool Truthy() const;
  // Python type name for messages: 'str', 'int', 'NoneType', 'list', 'dict', 'Undefined', ...
  const char* TypeName() const;
  // Identity of shared objects (Jinja's `is sameas` on containers).
  const void* identity() const { return ptr_.get(); }

 private:
  Kind kind_ = Kind::kUndefined;
  Seq seq_ = Seq::kList;
  bool markup_ = false;
  union {
    bool b_;
    int64_t i_ = 0;
    double f_;
  };
  std::shared_ptr<void> ptr_;  // string, ValueList, Dict, Namespace, Callable, undefined reason
};

// A dict: insertion ordered, as Python dicts built from JSON objects. Keys are strings; keys of
// other hashable types are stored encoded (EncodeDictKey), so that 1, 1.0 and True are one key
// as in Python.
struct Dict {
  std::vector<std::pair<std::string, Value>> entries;

  const Value* Find(absl::string_view key) const;
  // Inserts or replaces (a replaced key keeps its position, as in Python).
  void Set(std::string key, Value value);
  // Set() with a key of any hashable type; the first key object stored for an entry is the one
  // shown (Python keeps `True` in {True: 1, 1: 2}). False when the key is unhashable.
  bool SetTyped(const Value& key, Value value);
  // The key object of a stored key.
  Value KeyOf(const std::string& stored) const;

 private:
  absl::flat_hash_map<std::string, size_t> index_;         // kept once there are many entries
  std::vector<std::pair<std::string, Value>> typed_keys_;  // non-string keys as first stored
};

// jinja2's namespace(): attributes assignable with {% set ns.attr = ... %}.
struct Namespace {
  Dict attrs;
};

struct Callable {
  enum class Type : uint8_t {
    kBuiltin,    // a global function: range, namespace, raise_exception, dict, ...
    kMethod,     // `name` bound to `self`: 'abc'.upper, d.get, ...
    kMacro,      // {% macro %}
    kLoopCycle,  // loop.cycle; self is the loop's index0
  };
  Type type = Type::kBuiltin;
  std::string name;
  Value self;
  const ast::Macro* macro = nullptr;  // borrowed from the parsed template
};

// The stored form of a dict key: strings as they are; int, bool, integral float, other float and
// None in an encoding that no UTF-8 string can collide with. nullopt for unhashable keys (lists,
// dicts, namespaces, undefined).
std::optional<std::string> EncodeDictKey(const Value& key);
// The key value back from its stored form.
Value DecodeDictKey(const std::string& stored);

// Converts JSON to a Value: objects keep their key order (ordered_json) or nlohmann::json's
// sorted order; integers outside int64 become floats. Fails on strings that are not valid UTF-8.
absl::StatusOr<Value> ValueFromJson(const nlohmann::ordered_json& j);
absl::StatusOr<Value> ValueFromJson(const nlohmann::json& j);

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_VALUE_H_
