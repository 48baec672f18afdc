// Internals of the OpenAI request parser (openai_request.cc): typed access to JSON fields with
// OpenAI-style errors (param, code), and the parameter policy — what is honoured beyond the core
// fields (ignore_eos, min_tokens, n, penalties, logit_bias, logprobs), what is refused by name
// (known features this server does not implement; unknown keys). These read types and shapes;
// value ranges are ValidateOpenAiRequest's (openai_request.h). Pure functions; thread-safe.
#ifndef R1_COORDINATOR_HTTP_INTERNAL_REQUEST_JSON_H_
#define R1_COORDINATOR_HTTP_INTERNAL_REQUEST_JSON_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/api/openai_request.h"
#include "nlohmann/json.hpp"

namespace r1::http::internal {

// "a boolean", "an integer", ... for error messages.
const char* TypeName(const nlohmann::json& v);
// 400 invalid_type / invalid_value / unsupported_parameter naming `param`.
absl::Status WrongType(absl::string_view param, absl::string_view expected,
                       const nlohmann::json& v);
absl::Status BadValue(absl::string_view param, absl::string_view why);
absl::Status Unsupported(absl::string_view param, absl::string_view why);

// The value of `key`, or nullptr when absent or null.
const nlohmann::json* Field(const nlohmann::json& obj, const char* key);
bool IsInteger(const nlohmann::json& v);
absl::StatusOr<std::optional<bool>> OptBool(const nlohmann::json& obj, const char* key,
                                            absl::string_view param);
// A finite number.
absl::StatusOr<std::optional<double>> OptNumber(const nlohmann::json& obj, const char* key);
// An integer field as int64 (unsigned values above int64 are refused as out of range).
absl::StatusOr<std::optional<int64_t>> OptInt(const nlohmann::json& obj, const char* key);

// An integer clamped into int32 (out-of-range values stay out of range for the validator).
int32_t ClampToInt32(int64_t v);

// ignore_eos, min_tokens and speculative into *out.
absl::Status ParseLengthControls(const nlohmann::json& body, api::OpenAiRequest* out);
// Penalties, logit_bias, logprobs / top_logprobs and best_of into *out (after n was parsed).
absl::Status ParseSamplingControls(api::ApiKind kind, const nlohmann::json& body,
                                   api::OpenAiRequest* out);
// tools, tool_choice ("auto" / "none"; "required" and a named function refused) and
// parallel_tool_calls (a boolean) into *out (internal/request_tools.cc).
absl::Status ParseTools(api::ApiKind kind, const nlohmann::json& body, api::OpenAiRequest* out);
// Known OpenAI features this server does not implement: refused when asked for.
absl::Status RefuseUnsupported(api::ApiKind kind, const nlohmann::json& body);
// Keys this server does not know: refused by name (null values pass: "not given").
absl::Status RefuseUnknown(api::ApiKind kind, const nlohmann::json& body);

}  // namespace r1::http::internal

#endif  // R1_COORDINATOR_HTTP_INTERNAL_REQUEST_JSON_H_
