// Error statuses of the interpreter. Every error names the template line:
//   "template line 12: TypeError: can only concatenate str (not \"NoneType\") to str"
// Template and data problems are InvalidArgument (so are raise_exception() calls); exceeded
// limits are ResourceExhausted. Stateless; thread-safe.
#ifndef R1_COMMON_JINJA_INTERNAL_ERRORS_H_
#define R1_COMMON_JINJA_INTERNAL_ERRORS_H_

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace r1::jinja::internal {

inline constexpr absl::string_view kLinePrefix = "template line ";

inline absl::Status SyntaxError(int line, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(kLinePrefix, line, ": TemplateSyntaxError: ", message));
}

// `status` with the line in front, unless it already names one.
inline absl::Status AtLine(int line, const absl::Status& status) {
  if (status.ok() || absl::StartsWith(status.message(), kLinePrefix)) return status;
  return absl::Status(status.code(), absl::StrCat(kLinePrefix, line, ": ", status.message()));
}

// A runtime error without a line yet (the evaluator adds it): "TypeError: ...".
inline absl::Status TypeError(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("TypeError: ", message));
}

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_ERRORS_H_
