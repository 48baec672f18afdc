// Text forms of values, exactly as Python prints them: str() (what {{ x }} and `~` produce),
// repr() (how containers show their items), and json.dumps() with the arguments of the `tojson`
// filter that Hugging Face transformers installs (ensure_ascii=False, indent, separators,
// sort_keys). Stateless; thread-safe.
#ifndef R1_COMMON_JINJA_INTERNAL_VALUE_FORMAT_H_
#define R1_COMMON_JINJA_INTERNAL_VALUE_FORMAT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/jinja/internal/value.h"

namespace r1::jinja::internal {

// str(v): '' for Undefined, 'None', 'True', '1.0', "['a', 1]", "{'k': 'v'}", ...
std::string PyStr(const Value& v);
// repr(v): strings quoted, everything else as PyStr.
std::string PyRepr(const Value& v);

struct JsonDumpOptions {
  std::optional<std::string> indent;  // json.dumps(indent=...): spaces (from an int) or a string
  std::optional<std::string> item_separator;  // default ", " (or "," with indent)
  std::optional<std::string> key_separator;   // default ": "
  bool sort_keys = false;
  bool ensure_ascii = false;
};

// json.dumps(v, ...). Fails (TypeError) on values JSON cannot hold: Undefined, namespaces,
// callables.
absl::StatusOr<std::string> PyJsonDumps(const Value& v, const JsonDumpOptions& options);

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_VALUE_FORMAT_H_
