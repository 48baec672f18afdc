// OpenAI response bodies and server-sent events.
//
// Shapes (what the official clients parse):
//   chat.completion        {id, object, created, model, system_fingerprint, choices:[{index,
//                           message:{role, content, reasoning_content[, tool_calls]}, logprobs,
//                           finish_reason}], usage}; with tool calls, tool_calls is
//                           [{id, type:"function", function:{name, arguments}}] and content is
//                           null when no text came with them
//   chat.completion.chunk  {id, object, created, model, system_fingerprint, choices:[{index,
//                           delta, logprobs, finish_reason}]} (+ "usage": null on every chunk
//                           when the client asked for stream_options.include_usage, and a last
//                           chunk with "choices": [] and the usage)
//   text_completion        {id, object, created, model, system_fingerprint, choices:[{index, text,
//                           logprobs, finish_reason}], usage} (streamed chunks have the same
//                           object name)
//   usage                  {prompt_tokens, completion_tokens, total_tokens,
//                           completion_tokens_details:{reasoning_tokens}}
// `logprobs` is null unless the request asked for them (logprobs_json.h makes them).
// SSE: every event is "data: <json>\n\n"; a stream ends with "data: [DONE]\n\n".
//
// Stateless functions; thread-safe.
#ifndef R1_COORDINATOR_HTTP_OPENAI_RESPONSE_H_
#define R1_COORDINATOR_HTTP_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "coordinator/api/tools.h"
#include "coordinator/api/usage.h"
#include "coordinator/core/generator.h"
#include "nlohmann/json.hpp"

namespace r1::http {

inline constexpr absl::string_view kSseDone = "data: [DONE]\n\n";

// "data: <compact json>\n\n". Invalid UTF-8 in strings becomes U+FFFD (never an exception).
std::string SseEvent(const nlohmann::json& payload);
// Compact JSON, invalid UTF-8 replaced.
std::string DumpJson(const nlohmann::json& value);

// "chatcmpl-" / "cmpl-" + 24 random alphanumerics.
std::string NewResponseId(absl::string_view prefix);

nlohmann::json UsageJson(const api::Usage& usage);

// The system_fingerprint of every response: "fp_r1serve_<release>_<8 hex digits>", the digits a
// stable hash (FNV-1a) of the release and the served model id. Changes when either does.
std::string SystemFingerprint(absl::string_view model_id);

// Identity shared by every object of one response.
struct ResponseMeta {
  std::string id;
  int64_t created = 0;
  std::string model;
  std::string system_fingerprint;
};

// Tool calls as a message carries them ([{id, type, function:{name, arguments}}]) or, with
// `streamed`, as a delta does (each with its "index" first).
nlohmann::json ToolCallsJson(const std::vector<api::ToolCall>& calls, bool streamed);

// Chat. A choice of a chat.completion; `logprobs` null or {"content":[...]}; finish_reason empty =
// null. With tool calls the message carries them, and an empty content is null.
nlohmann::json ChatChoice(int index, const std::string& reasoning, const std::string& content,
                          const std::vector<api::ToolCall>& tool_calls, nlohmann::json logprobs,
                          absl::string_view finish_reason);
nlohmann::json ChatCompletion(const ResponseMeta& meta, nlohmann::json choices,
                              const api::Usage& usage);
// One streamed chunk for choice `index`; `delta` is an object ({"role":"assistant","content":""},
// {"content":..}, {"reasoning_content":..}, {"tool_calls":[..]}, or {}); finish_reason empty =
// null.
nlohmann::json ChatChunk(const ResponseMeta& meta, int index, nlohmann::json delta,
                         nlohmann::json logprobs, absl::string_view finish_reason, bool usage_null);
// The last chunk when include_usage: "choices": [] and the usage.
nlohmann::json UsageChunk(const ResponseMeta& meta, absl::string_view object,
                          const api::Usage& usage);

// Completions. `logprobs` null or {"tokens","token_logprobs","top_logprobs","text_offset"}.
nlohmann::json TextChoice(int index, const std::string& text, nlohmann::json logprobs,
                          absl::string_view finish_reason);
nlohmann::json TextCompletion(const ResponseMeta& meta, nlohmann::json choices,
                              const api::Usage& usage);
nlohmann::json TextCompletionChunk(const ResponseMeta& meta, int index, const std::string& text,
                                   nlohmann::json logprobs, absl::string_view finish_reason,
                                   bool usage_null);

// GET /v1/models and /v1/models/{id}.
nlohmann::json ModelObject(const ServedModel& model);
nlohmann::json ModelList(const ServedModel& model);

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_OPENAI_RESPONSE_H_
