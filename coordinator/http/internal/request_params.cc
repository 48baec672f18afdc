// The parameter policy of the OpenAI request parser (declared in internal/request_json.h): every
// parameter is honoured or refused by name, never silently ignored.
#include <algorithm>
#include <limits>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/internal/request_json.h"

namespace r1::http::internal {

using json = nlohmann::json;

// ignore_eos and min_tokens (vLLM's extensions, which benchmark tools send).
absl::Status ParseLengthControls(const json& body, OpenAiRequest* out) {
  auto ignore_eos = OptBool(body, "ignore_eos", "ignore_eos");
  if (!ignore_eos.ok()) return ignore_eos.status();
  out->ignore_eos = ignore_eos->value_or(false);
  auto min_tokens = OptInt(body, "min_tokens");
  if (!min_tokens.ok()) return min_tokens.status();
  if (min_tokens->has_value()) {
    if (**min_tokens < 0) return BadValue("min_tokens", "must be >= 0.");
    if (out->max_tokens.has_value() && **min_tokens > *out->max_tokens) {
      return BadValue("min_tokens", "must not exceed max_tokens.");
    }
    if (**min_tokens > 0 && !out->stop.empty()) {
      return Unsupported("min_tokens", "min_tokens together with 'stop' strings is not supported.");
    }
    out->min_tokens =
        static_cast<int32_t>(std::min<int64_t>(**min_tokens, std::numeric_limits<int32_t>::max()));
  }
  return absl::OkStatus();
}

// Every parameter is honoured or refused: a key this server does not know is a 400 naming it
// (as OpenAI's API answers), never silently ignored. A null value means "not given" (as for
// every parameter) and passes.
absl::Status RefuseUnknown(ApiKind kind, const json& body) {
  static const auto* const kKnown = new absl::flat_hash_set<std::string>{"model",
                                                                         "messages",
                                                                         "prompt",
                                                                         "max_tokens",
                                                                         "max_completion_tokens",
                                                                         "n",
                                                                         "top_k",
                                                                         "seed",
                                                                         "temperature",
                                                                         "top_p",
                                                                         "stream",
                                                                         "stream_options",
                                                                         "stop",
                                                                         "stop_token_ids",
                                                                         "user",
                                                                         "ignore_eos",
                                                                         "min_tokens",
                                                                         "logprobs",
                                                                         "top_logprobs",
                                                                         "echo",
                                                                         "best_of",
                                                                         "suffix",
                                                                         "presence_penalty",
                                                                         "frequency_penalty",
                                                                         "logit_bias",
                                                                         "tools",
                                                                         "functions",
                                                                         "response_format"};
  for (const auto& [key, value] : body.items()) {
    if (kKnown->contains(key) || value.is_null()) continue;
    // Without tools, these say nothing beyond their defaults.
    if (key == "tool_choice" && value.is_string() &&
        (value.get<std::string>() == "auto" || value.get<std::string>() == "none")) {
      continue;
    }
    if (key == "parallel_tool_calls" && value.is_boolean()) continue;
    if (key == "tool_choice") {
      return Unsupported(key, "tool definitions are not supported by this server.");
    }
    if (key == "repetition_penalty" && value.is_number() && value.get<double>() == 1.0) continue;
    if (key == "repetition_penalty") {
      return Unsupported(key, "penalties are not supported; use 1 (or leave it out).");
    }
    if (key == "chat_template_kwargs" || key == "reasoning_effort") {
      return Unsupported(key, "the server renders DeepSeek-R1's chat template as is.");
    }
    return InvalidRequest(absl::StrCat("Unrecognized request argument supplied: ", key), key,
                          "unknown_parameter");
  }
  (void)kind;
  return absl::OkStatus();
}

// Known OpenAI features this server does not implement: refused when asked for.
absl::Status RefuseUnsupported(ApiKind kind, const json& body) {
  if (const json* v = Field(body, "logprobs")) {
    if (kind == ApiKind::kChat) {
      if (!v->is_boolean()) return WrongType("logprobs", "a boolean", *v);
      if (v->get<bool>()) return Unsupported("logprobs", "log probabilities are not supported.");
    } else {
      if (!IsInteger(*v)) return WrongType("logprobs", "an integer", *v);
      return Unsupported("logprobs", "log probabilities are not supported.");
    }
  }
  if (const json* v = Field(body, "top_logprobs")) {
    if (!IsInteger(*v)) return WrongType("top_logprobs", "an integer", *v);
    return Unsupported("top_logprobs", "log probabilities are not supported.");
  }
  if (const json* v = Field(body, "echo")) {
    if (!v->is_boolean()) return WrongType("echo", "a boolean", *v);
    if (v->get<bool>()) return Unsupported("echo", "echoing the prompt is not supported.");
  }
  if (const json* v = Field(body, "best_of")) {
    if (!IsInteger(*v)) return WrongType("best_of", "an integer", *v);
    if (v->get<int64_t>() != 1) return Unsupported("best_of", "only best_of = 1 is supported.");
  }
  if (const json* v = Field(body, "suffix")) {
    if (!v->is_string()) return WrongType("suffix", "a string", *v);
    if (!v->get<std::string>().empty()) return Unsupported("suffix", "suffix is not supported.");
  }
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    if (const json* v = Field(body, key)) {
      if (!v->is_number()) return WrongType(key, "a number", *v);
      const double d = v->get<double>();
      if (!(d >= -2.0 && d <= 2.0)) return BadValue(key, "must be in [-2, 2].");
      if (d != 0.0) return Unsupported(key, "penalties are not supported; use 0.");
    }
  }
  if (const json* v = Field(body, "logit_bias")) {
    if (!v->is_object()) return WrongType("logit_bias", "an object", *v);
    if (!v->empty()) return Unsupported("logit_bias", "logit_bias is not supported.");
  }
  // Tool definitions would be silently ignored (R1's template does not render them): refuse.
  for (const char* key : {"tools", "functions"}) {
    if (const json* v = Field(body, key)) {
      if (!v->is_array()) return WrongType(key, "an array", *v);
      if (!v->empty()) {
        return Unsupported(key, "tool definitions are not supported by this server.");
      }
    }
  }
  if (const json* v = Field(body, "response_format")) {
    if (!v->is_object()) return WrongType("response_format", "an object", *v);
    const json* type = Field(*v, "type");
    if (type == nullptr) {
      return InvalidRequest("Missing required parameter: 'response_format.type'.",
                            "response_format.type", "missing_required_parameter");
    }
    if (!type->is_string()) return WrongType("response_format.type", "a string", *type);
    if (type->get<std::string>() != "text") {
      return Unsupported("response_format.type", "only 'text' is supported.");
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::http::internal
