// ValidateOpenAiRequest and MakeRequestLimits (declared in openai_request.h): the value checks
// the HTTP parser and the gRPC service share, on the typed request whatever its wire form.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/api/api_status.h"
#include "coordinator/api/openai_request.h"
#include "coordinator/api/tools.h"

namespace r1::api {
namespace {

absl::Status BadValue(absl::string_view param, absl::string_view why) {
  return InvalidRequest(absl::StrCat("Invalid value for '", param, "': ", why), param,
                        "invalid_value");
}

// A token id in [0, vocab_size) (below 2^31 when the vocabulary size is not known).
absl::Status CheckTokenId(int64_t id, absl::string_view param, const RequestLimits& limits) {
  if (id < 0) return BadValue(param, "token ids must be >= 0.");
  const int64_t limit = limits.vocab_size > 0 ? limits.vocab_size : int64_t{1} << 31;
  if (id >= limit) {
    return BadValue(
        param, absl::StrCat("token id ", id, " is not below the vocabulary size ", limit, "."));
  }
  return absl::OkStatus();
}

absl::Status CheckMessages(const std::vector<ChatMessage>& messages) {
  if (messages.empty()) {
    return BadValue("messages", "empty array; expected at least one message.");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const std::string param = absl::StrCat("messages[", i, "]");
    if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool") {
      return BadValue(absl::StrCat(param, ".role"),
                      absl::StrCat("'", m.role,
                                   "' is not one of 'system', 'developer', 'user', 'assistant', "
                                   "'tool'."));
    }
    if ((m.has_tool_calls || !m.tool_calls.empty()) && m.role != "assistant") {
      return BadValue(absl::StrCat(param, ".tool_calls"),
                      "only assistant messages carry tool calls.");
    }
    for (size_t k = 0; k < m.tool_calls.size(); ++k) {
      if (m.tool_calls[k].type != "function") {
        return BadValue(absl::StrCat(param, ".tool_calls[", k, "].type"),
                        "only 'function' tool calls are supported.");
      }
    }
    if (!m.content.has_value() && !(m.role == "assistant" && m.has_tool_calls)) {
      const std::string p = absl::StrCat(param, ".content");
      return InvalidRequest(absl::StrCat("Missing required parameter: '", p, "'."), p,
                            "missing_required_parameter");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLogitBias(const std::vector<std::pair<int64_t, double>>& bias,
                            const RequestLimits& limits) {
  if (bias.size() > kMaxLogitBias) {
    return BadValue("logit_bias",
                    absl::StrCat("at most ", kMaxLogitBias, " entries, got ", bias.size(), "."));
  }
  std::vector<int64_t> ids;
  ids.reserve(bias.size());
  for (const auto& [id, value] : bias) {
    absl::Status s = CheckTokenId(id, "logit_bias", limits);
    if (!s.ok()) return s;
    if (!(value >= -100.0 && value <= 100.0)) {
      return BadValue("logit_bias",
                      absl::StrCat("the bias of token ", id, " must be between -100 and 100."));
    }
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  auto dup = std::adjacent_find(ids.begin(), ids.end());
  if (dup != ids.end()) {
    return BadValue("logit_bias", absl::StrCat("token ", *dup, " is given more than once."));
  }
  return absl::OkStatus();
}

// Chat's top_logprobs and the gRPC field of that name; the completions API's integer `logprobs`
// (at most kMaxCompletionTopLogprobs) arrives here as top_logprobs, checked by its parser.
absl::Status CheckLogprobs(const OpenAiRequest& r) {
  if (r.top_logprobs < 0 || r.top_logprobs > kMaxChatTopLogprobs) {
    return BadValue("top_logprobs",
                    absl::StrCat("must be between 0 and ", kMaxChatTopLogprobs, "."));
  }
  if (r.top_logprobs > 0 && !r.logprobs) {
    return BadValue("top_logprobs", "'logprobs' must be true when 'top_logprobs' is used.");
  }
  return absl::OkStatus();
}

absl::Status CheckStops(const OpenAiRequest& r, const RequestLimits& limits) {
  if (r.stop.size() > kMaxStopStrings) {
    return BadValue("stop", absl::StrCat("at most ", kMaxStopStrings, " stop sequences."));
  }
  for (size_t i = 0; i < r.stop.size(); ++i) {
    const std::string param = absl::StrCat("stop[", i, "]");
    if (r.stop[i].empty()) return BadValue(param, "stop strings must not be empty.");
    if (r.stop[i].size() > kMaxStopStringBytes) {
      return BadValue(param,
                      absl::StrCat("stop strings are limited to ", kMaxStopStringBytes, " bytes."));
    }
  }
  if (r.stop_token_ids.size() > kMaxStopTokenIds) {
    return BadValue("stop_token_ids", absl::StrCat("at most ", kMaxStopTokenIds, " token ids."));
  }
  for (size_t i = 0; i < r.stop_token_ids.size(); ++i) {
    absl::Status s =
        CheckTokenId(r.stop_token_ids[i], absl::StrCat("stop_token_ids[", i, "]"), limits);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

RequestLimits MakeRequestLimits(const ServedModel& model, int64_t tokenizer_id_limit) {
  RequestLimits limits{model.id, model.vocab_size};
  if (limits.vocab_size <= 0 || limits.vocab_size > tokenizer_id_limit) {
    limits.vocab_size = tokenizer_id_limit;
  }
  return limits;
}

absl::Status ValidateOpenAiRequest(OpenAiRequest* request, const RequestLimits& limits) {
  OpenAiRequest& r = *request;
  if (r.kind == ApiKind::kChat) {
    absl::Status s = CheckMessages(r.messages);
    if (!s.ok()) return s;
  } else if (!r.chat_template_kwargs.empty()) {
    return InvalidRequest("'chat_template_kwargs' applies to chat completions only.",
                          "chat_template_kwargs", "unsupported_parameter");
  } else if (r.prompt_is_ids) {
    if (r.prompt_ids.empty()) return BadValue("prompt", "empty array.");
    for (size_t i = 0; i < r.prompt_ids.size(); ++i) {
      absl::Status s = CheckTokenId(r.prompt_ids[i], absl::StrCat("prompt[", i, "]"), limits);
      if (!s.ok()) return s;
    }
  }
  if (r.max_tokens.has_value()) {
    if (*r.max_tokens <= 0) return BadValue("max_tokens", "must be an integer greater than 0.");
    if (*r.max_tokens > std::numeric_limits<int32_t>::max()) {
      return BadValue("max_tokens", "must be at most 2147483647.");
    }
  }
  if (r.n < 1 || r.n > kMaxSamples) {
    return BadValue("n", absl::StrCat("must be between 1 and ", kMaxSamples, "."));
  }
  if (r.top_k < -1) return BadValue("top_k", "must be -1 (off), 0 (off) or a positive integer.");
  if (!(r.temperature >= 0.0 && r.temperature <= 2.0)) {
    return BadValue("temperature", "must be between 0 and 2.");
  }
  if (!(r.top_p > 0.0 && r.top_p <= 1.0)) {
    return BadValue("top_p", "must be greater than 0 and at most 1.");
  }
  if (!(r.presence_penalty >= -2.0 && r.presence_penalty <= 2.0)) {
    return BadValue("presence_penalty", "must be between -2 and 2.");
  }
  if (!(r.frequency_penalty >= -2.0 && r.frequency_penalty <= 2.0)) {
    return BadValue("frequency_penalty", "must be between -2 and 2.");
  }
  if (!(r.repetition_penalty > 0.0 && r.repetition_penalty <= 2.0)) {
    return BadValue("repetition_penalty", "must be greater than 0 and at most 2 (1 = off).");
  }
  absl::Status s = CheckLogitBias(r.logit_bias, limits);
  if (!s.ok()) return s;
  s = CheckLogprobs(r);
  if (!s.ok()) return s;
  s = CheckStops(r, limits);
  if (!s.ok()) return s;
  if (r.min_tokens < 0) return BadValue("min_tokens", "must be >= 0.");
  if (r.max_tokens.has_value() && r.min_tokens > *r.max_tokens) {
    return BadValue("min_tokens", "must not exceed max_tokens.");
  }
  if (r.min_tokens > 0 && !r.stop.empty()) {
    return InvalidRequest(
        "Unsupported parameter 'min_tokens': min_tokens together with 'stop' strings is not "
        "supported.",
        "min_tokens", "unsupported_parameter");
  }
  s = ValidateTools(r);
  if (!s.ok()) return s;
  if (r.top_k == -1) r.top_k = 0;

  // Last, so that a malformed request is reported as such whatever its model.
  if (r.model != limits.model_id) {
    return ApiStatus(absl::StatusCode::kNotFound,
                     absl::StrCat("The model '", r.model, "' does not exist. This server serves '",
                                  limits.model_id, "'."),
                     "model", "model_not_found");
  }
  return absl::OkStatus();
}

}  // namespace r1::api
