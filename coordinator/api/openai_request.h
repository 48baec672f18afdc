// OpenAiRequest: one generation request (chat or completion) with OpenAI's parameters, whatever
// transport brought it — the HTTP API parses it from JSON (coordinator/http/request_parser.h), the
// gRPC API maps it from its proto (coordinator/grpc_api/generate_request.h) — and the checks and
// mapping every transport shares: ValidateOpenAiRequest (every value range, so both APIs accept and
// refuse the same values) and MakeGenerationRequest (the request plus its prompt ids as the
// cluster's GenerationRequest). No sockets, no JSON, no tokenizer (prompt_builder.h turns messages
// or the prompt into ids).
//
// Value rules (OpenAI's, where it has one):
//   - model must equal the served model id (404 model_not_found);
//   - max_tokens > 0; unset = all the context the prompt leaves; prompt + max_tokens over the
//     context length is refused (400 context_length_exceeded), as OpenAI and vLLM do;
//   - temperature [0, 2] (default 1), top_p (0, 1] (default 1), top_k >= -1 (0 and -1 = off), at
//     most 4 non-empty stop strings of at most 1024 bytes; stop_token_ids (vLLM's extension): at
//     most kMaxStopTokenIds ids in [0, vocab_size);
//   - n 1–16 independent samples (with a seed, sample i uses seed + i);
//     presence_penalty / frequency_penalty [-2, 2]; repetition_penalty (0, 2] (vLLM's
//     extension); logit_bias ids below the vocabulary -> numbers in [-100, 100], at most 300
//     entries;
//   - chat: top_logprobs 0–20 (only with logprobs); completions: 0–5 alternatives;
//   - chat: a non-empty list of messages; roles system, user, assistant, tool (the transports map
//     "developer" to system); null content only for an assistant message with tool calls;
//   - chat: at most kMaxTools tools, each a function with a name of 1–64 letters, digits, '_' or
//     '-', names unique, parameters (when given) a JSON object; tool_choice "auto" or "none"
//     (the transports refuse "required" and a named function); tools.h says what they do;
//   - completions: prompt text, or a non-empty list of token ids (each in [0, vocab_size)); no
//     chat_template_kwargs.
// Every error is an absl::Status made with InvalidRequest/ApiStatus (api_status.h): status code,
// message, `param` (the OpenAI parameter, e.g. "messages[1].content") and `code` where OpenAI has
// one.
//
// Value types and stateless functions; thread-safe.
#ifndef R1_COORDINATOR_API_OPENAI_REQUEST_H_
#define R1_COORDINATOR_API_OPENAI_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/core/generator.h"

namespace r1::api {

enum class ApiKind { kChat, kCompletion };

inline constexpr size_t kMaxStopStrings = 4;
inline constexpr size_t kMaxStopStringBytes = 1024;
inline constexpr size_t kMaxStopTokenIds = 64;
inline constexpr int32_t kMaxSamples = 16;               // n
inline constexpr size_t kMaxLogitBias = 300;             // logit_bias entries (as OpenAI)
inline constexpr int32_t kMaxChatTopLogprobs = 20;       // chat top_logprobs
inline constexpr int32_t kMaxCompletionTopLogprobs = 5;  // completions logprobs
inline constexpr size_t kMaxTools = 128;                 // tools (as OpenAI)
inline constexpr size_t kMaxToolNameBytes = 64;          // a tool's function name (as OpenAI)

// One chat message after validation: content flattened to a string (nullopt = JSON null).
struct ChatToolCall {
  std::string type;  // "function"
  std::string name;
  std::string arguments;
  std::string id = "";  // not given
};
struct ChatMessage {
  std::string role;  // system, user, assistant, tool ("developer" arrives as "system")
  std::optional<std::string> content;
  std::vector<ChatToolCall> tool_calls;
  bool has_tool_calls = false;    // "tool_calls" was present (possibly empty)
  std::string tool_call_id = "";  // role tool: the call it answers ("" = not given)
};

// A function the model may call (OpenAI's {"type": "function", "function": {...}}).
struct ChatTool {
  std::string name;
  std::optional<std::string> description;
  std::string parameters_json;  // the JSON Schema object's text; "" = not given
};

// OpenAI's tool_choice: "auto" (the model decides; its calls are parsed) or "none" (no calls
// parsed; the template still sees the tools, as in vLLM).
enum class ToolChoice { kAuto, kNone };

struct OpenAiRequest {
  ApiKind kind = ApiKind::kChat;
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage

  std::vector<ChatMessage> messages;  // kChat
  // kChat: chat_template_kwargs, extra variables for the chat template, as the text of a JSON
  // object ("" = none); checked and parsed where the template is rendered (prompt_builder.h).
  std::string chat_template_kwargs;
  // kChat: the tools passed to the chat template, and whether tool calls are parsed.
  std::vector<ChatTool> tools;
  ToolChoice tool_choice = ToolChoice::kAuto;
  // kCompletion: text, or token ids when prompt_is_ids.
  std::string prompt_text;
  std::vector<int32_t> prompt_ids;
  bool prompt_is_ids = false;

  std::optional<int64_t> max_tokens;
  double temperature = 1.0;
  double top_p = 1.0;
  int32_t top_k = 0;  // 0 = off (-1 in the request means off too)
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;  // besides EOS
  bool ignore_eos = false;              // keep generating after EOS (up to max_tokens)
  int32_t min_tokens = 0;               // EOS / stop ids cannot end the output before this
  bool speculative = true;              // false: opt out of MTP speculative decoding
  int32_t n = 1;                        // independent samples of the prompt
  double presence_penalty = 0.0;        // OpenAI's; 0 = off
  double frequency_penalty = 0.0;       // OpenAI's; 0 = off
  double repetition_penalty = 1.0;      // Hugging Face's; 1 = off
  std::vector<std::pair<int64_t, double>> logit_bias;  // (token id, bias) as given, by id
  bool logprobs = false;                               // report each token's logprob
  int32_t top_logprobs = 0;  // alternatives per token (completions: `logprobs`)
};

// What the parser checks requests against.
struct RequestLimits {
  std::string model_id;    // the served model
  int64_t vocab_size = 0;  // token ids in a prompt must be < this (0 = no check)
};

// The limits for a served model whose tokenizer knows ids below `tokenizer_id_limit`: ids past the
// tokenizer's last are padding rows of the embedding, never valid in a request.
RequestLimits MakeRequestLimits(const ServedModel& model, int64_t tokenizer_id_limit);

// The value checks every front end applies to a request, whatever its wire form (the HTTP parser
// after reading the JSON, the gRPC service after mapping its proto): messages (roles, content,
// tool calls), prompt and stop ids below the vocabulary, max_tokens, n, top_k, temperature,
// top_p, penalties, logit_bias, logprobs / top_logprobs, stop strings, min_tokens, tools, and last
// the model (404 model_not_found). Normalizes top_k -1 to 0. Errors name the OpenAI parameter.
absl::Status ValidateOpenAiRequest(OpenAiRequest* request, const RequestLimits& limits);

// Builds the GenerationRequest of the first sample: checks the context (prompt + max(max_tokens, 1)
// > max_model_len: 400 context_length_exceeded) and sets max_new_tokens (default: max_model_len -
// prompt). stop_token_ids = `extra_stop_ids` (e.g. EOS) + the request's; penalties, logit_bias
// (by id) and logprobs as requested. Sample i of n differs only in its seed (seed + i) and id.
absl::StatusOr<GenerationRequest> MakeGenerationRequest(const OpenAiRequest& request,
                                                        std::vector<int32_t> prompt_ids,
                                                        const ServedModel& model,
                                                        std::string request_id, absl::Time deadline,
                                                        std::vector<int32_t> extra_stop_ids);

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_OPENAI_REQUEST_H_
