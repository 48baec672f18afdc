// OpenAI error objects over HTTP: a request-layer status (coordinator/api/api_status.h, which
// carries OpenAI's `param` and `code`) as the error object and HTTP status the client gets:
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
#include "coordinator/api/api_status.h"  // IWYU pragma: export

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
