#include "coordinator/http/api_error.h"

#include "coordinator/api/api_status.h"

#include "nlohmann/json.hpp"

namespace r1::http {
namespace {

std::string TypeFor(int http_status) {
  if (http_status == 429) return "rate_limit_error";
  if (http_status >= 500) return "server_error";
  return "invalid_request_error";
}

}  // namespace

std::string ApiError::Json() const {
  nlohmann::json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (param.has_value()) e["param"] = *param;
  if (code.has_value()) e["code"] = *code;
  return nlohmann::json{{"error", e}}.dump(-1, ' ', false,
                                           nlohmann::json::error_handler_t::replace);
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

ApiError ApiErrorFromStatus(const absl::Status& status) {
  ApiError e;
  e.http_status = HttpStatusFor(status.code());
  e.message = std::string(status.message());
  if (e.message.empty()) e.message = status.ToString();
  e.type = TypeFor(e.http_status);
  e.param = api::ApiStatusParam(status);
  e.code = api::ApiStatusCode(status);
  e.retry_after_s = api::RetryAfterSeconds(status);
  return e;
}

ApiError MakeApiError(int http_status, absl::string_view message, absl::string_view param,
                      absl::string_view code) {
  ApiError e;
  e.http_status = http_status;
  e.message = std::string(message);
  e.type = TypeFor(http_status);
  if (!param.empty()) e.param = std::string(param);
  if (!code.empty()) e.code = std::string(code);
  return e;
}

}  // namespace r1::http
