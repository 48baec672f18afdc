// The built-in filters (filters.cc), tests (predicates.cc), methods of str/dict/list
// (methods.cc) and global functions (globals.cc) that chat templates use, with Jinja2's and
// Python's semantics and the arguments of transformers' environment. Errors carry no line (the
// evaluator adds it). Stateless apart from the Renderer they are given; thread-safe.
#ifndef R1_COMMON_JINJA_INTERNAL_BUILTINS_H_
#define R1_COMMON_JINJA_INTERNAL_BUILTINS_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/jinja/internal/renderer.h"
#include "common/jinja/internal/value.h"

namespace r1::jinja::internal {

bool IsFilter(absl::string_view name);
bool IsTest(absl::string_view name);
bool IsGlobalFunction(absl::string_view name);

absl::StatusOr<Value> ApplyFilter(Renderer& r, const std::string& name, const Value& v,
                                  const CallArgs& args);
absl::StatusOr<bool> ApplyTest(Renderer& r, const std::string& name, const Value& v,
                               const CallArgs& args);
absl::StatusOr<Value> CallMethod(Renderer& r, const Value& self, const std::string& name,
                                 const CallArgs& args);
absl::StatusOr<Value> CallGlobal(Renderer& r, const std::string& name, const CallArgs& args);

// Binds a call's arguments to `params` (positional first, then by keyword), as Python does for
// fn(params...). Unset parameters are nullopt. Errors: too many arguments, an unknown or
// repeated keyword, fewer than `required` arguments.
absl::StatusOr<std::vector<std::optional<Value>>> BindArgs(
    const CallArgs& args, absl::string_view fn, std::initializer_list<absl::string_view> params,
    size_t required = 0);

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_BUILTINS_H_
