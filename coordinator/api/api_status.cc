#include "coordinator/api/api_status.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "coordinator/core/generator.h"

namespace r1::api {
namespace {

constexpr absl::string_view kParamUrl = "type.r1serve/openai.param";
constexpr absl::string_view kCodeUrl = "type.r1serve/openai.code";

std::optional<std::string> Payload(const absl::Status& status, absl::string_view url) {
  if (auto p = status.GetPayload(url)) return std::string(*p);
  return std::nullopt;
}

}  // namespace

absl::Status ApiStatus(absl::StatusCode status_code, absl::string_view message,
                       absl::string_view param, absl::string_view code) {
  absl::Status s(status_code, message);
  if (!param.empty()) s.SetPayload(kParamUrl, absl::Cord(param));
  if (!code.empty()) s.SetPayload(kCodeUrl, absl::Cord(code));
  return s;
}

absl::Status InvalidRequest(absl::string_view message, absl::string_view param,
                            absl::string_view code) {
  return ApiStatus(absl::StatusCode::kInvalidArgument, message, param, code);
}

std::optional<std::string> ApiStatusParam(const absl::Status& status) {
  return Payload(status, kParamUrl);
}

std::optional<std::string> ApiStatusCode(const absl::Status& status) {
  return Payload(status, kCodeUrl);
}

int RetryAfterSeconds(const absl::Status& status) {
  const std::optional<std::string> r = Payload(status, kRetryAfterPayload);
  int seconds = 0;
  if (r.has_value() && absl::SimpleAtoi(*r, &seconds) && seconds >= 1 && seconds <= 3600) {
    return seconds;
  }
  return 0;
}

}  // namespace r1::api
