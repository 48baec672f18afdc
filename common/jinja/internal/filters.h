// The two halves of the filter table: text and number filters (filters.cc) and sequence
// filters (filters_seq.cc), plus helpers they share. ApplyFilter (builtins.h) dispatches here.
#ifndef R1_COMMON_JINJA_INTERNAL_FILTERS_H_
#define R1_COMMON_JINJA_INTERNAL_FILTERS_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/jinja/internal/renderer.h"
#include "common/jinja/internal/value.h"

namespace r1::jinja::internal {

using FilterFn = absl::StatusOr<Value> (*)(Renderer&, const Value&, const CallArgs&);

// nullptr when `name` is not a filter of that half.
FilterFn FindTextFilter(absl::string_view name);
FilterFn FindSequenceFilter(absl::string_view name);

// Jinja's make_attrgetter: `attribute` split at dots (digit parts are indexes), each applied
// with item access; an undefined result is replaced by `dflt` when given.
absl::StatusOr<Value> AttributeOf(const Value& item, const Value& attribute,
                                  const std::optional<Value>& dflt);
// Jinja's ignore_case: strings lowercased, other values unchanged.
Value IgnoreCase(const Value& v);

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_FILTERS_H_
