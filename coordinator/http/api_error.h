// OpenAI error objects, carried through the code as absl::Status.
//
// Parsing and validation return absl::Status; the OpenAI details ride along as payloads:
//   return InvalidRequest("'temperature' must be in [0, 2]", "temperature");
//   ApiError e = ApiErrorFromStatus(status);   // http status, message, type, param, code
//   e.Json() == {"error":{"message":...,"type":"invalid_request_error","param":"temperature",
//                         "code":null}}
// Status codes map to HTTP: InvalidArgument/OutOfRange/FailedPrecondition 400, Unauthenticated
// 401, PermissionDenied 403, NotFound 404, ResourceExhausted 429, Unavailable 503,
// DeadlineExceeded 504, anything else 500 ("server_error"). Errors the transport makes itself
// (405, 413, 431, ...) are ApiError values built directly.
//
// Stateless functions and value types; thread-safe.
#ifndef R1_COORDINATOR_HTTP_API_ERROR_H_
#define R1_COORDINATOR_HTTP_API_ERROR_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "coordinator/core/generator.h"

namespace r1::http {

struct ApiError {
  int http_status = 500;
  std::string message;
  std::string type = "server_error";
  std::optional<std::string> param;
  std::optional<std::string> code;
  // Seconds for a Retry-After header when the cause gave them (kRetryAfterPayload); 0 = none.
  int retry_after_s = 0;

  // The OpenAI error object: {"error":{"message","type","param","code"}}.
  std::string Json() const;
};

// A status carrying OpenAI's `param` and `code` (empty = null).
absl::Status ApiStatus(absl::StatusCode status_code, absl::string_view message,
                       absl::string_view param = "", absl::string_view code = "");

// InvalidArgument (HTTP 400, invalid_request_error).
absl::Status InvalidRequest(absl::string_view message, absl::string_view param = "",
                            absl::string_view code = "");

// The HTTP status an absl::Status maps to (see the file comment).
int HttpStatusFor(absl::StatusCode code);

// The ApiError for a non-OK status (payloads give param, code and retry_after_s; the latter is
// kept only in [1, 3600]).
ApiError ApiErrorFromStatus(const absl::Status& status);

// An ApiError with an explicit HTTP status (type invalid_request_error for 4xx, server_error
// for 5xx).
ApiError MakeApiError(int http_status, absl::string_view message, absl::string_view param = "",
                      absl::string_view code = "");

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_API_ERROR_H_
