// JsonNestingDepth: the deepest nesting of arrays and objects in a JSON text, by a cheap scan
// that skips strings, so that absurdly nested input (a request body, a tool's parameters schema)
// is refused before a JSON parser builds it. Pure; thread-safe.
#ifndef R1_COORDINATOR_API_JSON_NESTING_H_
#define R1_COORDINATOR_API_JSON_NESTING_H_

#include "absl/strings/string_view.h"

namespace r1::api {

int JsonNestingDepth(absl::string_view text);

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_JSON_NESTING_H_
