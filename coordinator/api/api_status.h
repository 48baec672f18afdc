// Request errors as absl::Status with OpenAI's error details attached, whatever the transport.
//
// The request layer (validation, prompts, CompletionSession) returns absl::Status; OpenAI's
// `param` (e.g. "messages[1].content") and `code` (e.g. "context_length_exceeded") ride along as
// payloads:
//   return InvalidRequest("'temperature' must be in [0, 2]", "temperature");
//   ApiStatusParam(status) == "temperature"
// The HTTP API turns such a status into an OpenAI error object and an HTTP status
// (coordinator/http/api_error.h); the gRPC API sends its code and message. A ResourceExhausted
// status from Generator::Submit may carry kRetryAfterPayload (coordinator/core/generator.h).
//
// Stateless functions; thread-safe.
#ifndef R1_COORDINATOR_API_API_STATUS_H_
#define R1_COORDINATOR_API_API_STATUS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace r1::api {

// A status carrying OpenAI's `param` and `code` (empty = none).
absl::Status ApiStatus(absl::StatusCode status_code, absl::string_view message,
                       absl::string_view param = "", absl::string_view code = "");

// InvalidArgument (HTTP 400, invalid_request_error).
absl::Status InvalidRequest(absl::string_view message, absl::string_view param = "",
                            absl::string_view code = "");

// The `param` / `code` an ApiStatus carries (nullopt when none).
std::optional<std::string> ApiStatusParam(const absl::Status& status);
std::optional<std::string> ApiStatusCode(const absl::Status& status);

// The seconds a kRetryAfterPayload on `status` says, when they are in [1, 3600]; 0 otherwise.
int RetryAfterSeconds(const absl::Status& status);

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_API_STATUS_H_
