// Python operators on values, as Jinja2 templates evaluate them: arithmetic (+ - * / // % **,
// with Python's int/float rules and floor semantics; int overflow is an error), `~`, `%`
// formatting of strings, ==/!= and ordering, `in`, attribute and item access (Jinja's
// getattr/getitem fallbacks, the immutable sandbox's refusal of mutating methods), slicing and
// iteration. Errors are InvalidArgument "TypeError: ...", "UndefinedError: ..." and the like,
// without a line (the evaluator adds it). Stateless; thread-safe.
#ifndef R1_COMMON_JINJA_INTERNAL_OPERATORS_H_
#define R1_COMMON_JINJA_INTERNAL_OPERATORS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/jinja/internal/value.h"

namespace r1::jinja::internal {

// The error for using an undefined value.
absl::Status UndefinedError(const Value& v);

// a <op> b for op in + - * / // % ** ~. Strings and lists built here may hold at most
// `max_bytes` bytes / items (ResourceExhausted beyond).
absl::StatusOr<Value> BinaryOp(absl::string_view op, const Value& a, const Value& b,
                               size_t max_bytes);
// -v, +v, not v.
absl::StatusOr<Value> UnaryOp(absl::string_view op, const Value& v);

bool PyEquals(const Value& a, const Value& b);
// Python's ordering: <0, 0, >0; TypeError for unorderable operands.
absl::StatusOr<int> PyCompare(const Value& a, const Value& b, absl::string_view op_for_errors);
// a <op> b for op in == != < <= > >= in notin.
absl::StatusOr<bool> CompareOp(absl::string_view op, const Value& a, const Value& b);
// `item in container`.
absl::StatusOr<bool> Contains(const Value& container, const Value& item);

// obj.name and obj[key] with Jinja2's fallbacks: a missing attribute or key is an undefined
// value (an error only when used); methods come back as bound callables.
absl::StatusOr<Value> GetAttr(const Value& obj, const std::string& name);
absl::StatusOr<Value> GetItem(const Value& obj, const Value& key);
// obj[start:stop:step] of a string, list or tuple (null bounds are Python's None).
absl::StatusOr<Value> SliceOp(const Value& obj, const Value* start, const Value* stop,
                              const Value* step);

// The items a for loop (or a filter) sees: list items, dict keys, string characters; nothing
// for undefined; TypeError for the rest.
absl::StatusOr<ValueList> Iterate(const Value& v);
// len(v): TypeError when v has none (undefined has length 0).
absl::StatusOr<int64_t> Length(const Value& v);

// Printf-style `fmt % args` (%s %r %d %i %f %x %%, flags - + space 0, width, precision).
// With `escape` (a Markup format), %s and %r arguments are HTML-escaped.
absl::StatusOr<std::string> PercentFormat(absl::string_view fmt, const Value& args,
                                          bool escape = false);

// True for method names of str, dict and list that templates may call (bound by GetAttr).
bool IsSafeMethod(const Value& self, absl::string_view name);

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_OPERATORS_H_
