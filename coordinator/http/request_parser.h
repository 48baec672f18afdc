// The OpenAI HTTP API's request bodies (POST /v1/chat/completions and /v1/completions) as the
// request layer's OpenAiRequest (coordinator/api/openai_request.h), then checked by
// ValidateOpenAiRequest.
//
// Shape rules (OpenAI's, where it has one):
//   - the body is a JSON object (nesting at most kMaxJsonDepth); known fields of the wrong type
//     are refused; null means "not given" for optional fields; unknown fields are refused by name
//     (400 unknown_parameter);
//   - max_tokens / max_completion_tokens: integers (max_completion_tokens wins when both are
//     given); seed an integer; stop a string or an array of strings; stream bool; stream_options
//     {include_usage bool} only with stream = true; best_of only = n;
//   - chat: logprobs bool, top_logprobs integer; completions: logprobs integer (the number of
//     alternatives; null or absent = off), top_logprobs refused;
//   - features this server does not implement are refused rather than ignored: echo, suffix,
//     non-text content parts, functions (non-empty; the legacy form of tools), tool_choice
//     "required" or naming a function, response_format other than text;
//   - chat: tools an array of {"type":"function","function":{"name", "description",
//     "parameters" (an object), "strict" (a boolean, not enforced)}}; tool_choice "auto" or
//     "none"; parallel_tool_calls a boolean (not enforced); their values: api::ValidateTools;
//   - chat: messages is an array of {role, content, tool_calls}; "developer" is "system"; content a
//     string or an array of {"type":"text","text":...} parts (joined with "\n"); tool_calls an
//     array of {"id","type":"function","function":{"name","arguments"}} with string name and
//     arguments (id optional); a tool message's tool_call_id (optional) reaches the template;
//   - completions: prompt a string, an array of one string, or a non-empty array of token ids.
// Errors carry OpenAI's `param` and `code` (api_status.h); value ranges are
// ValidateOpenAiRequest's. The typed field access and the parameter policy are in internal/.
//
// Stateless functions; thread-safe.
#ifndef R1_COORDINATOR_HTTP_REQUEST_PARSER_H_
#define R1_COORDINATOR_HTTP_REQUEST_PARSER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/api/openai_request.h"
#include "nlohmann/json.hpp"

namespace r1::http {

inline constexpr int kMaxJsonDepth = 64;

// Parses and validates a request body.
absl::StatusOr<api::OpenAiRequest> ParseOpenAiRequest(api::ApiKind kind, absl::string_view body,
                                                      const api::RequestLimits& limits);

// The same, from an already parsed JSON value.
absl::StatusOr<api::OpenAiRequest> ParseOpenAiRequestJson(api::ApiKind kind,
                                                          const nlohmann::json& body,
                                                          const api::RequestLimits& limits);

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_REQUEST_PARSER_H_
