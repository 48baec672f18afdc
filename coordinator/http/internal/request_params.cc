// The parameter policy of the OpenAI request parser (declared in internal/request_json.h): every
// parameter is honoured or refused by name, never silently ignored.
#include <algorithm>
#include <limits>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/internal/request_json.h"

namespace r1::http::internal {

using api::ApiKind;
using api::InvalidRequest;
using api::kMaxCompletionTopLogprobs;
using api::kMaxLogitBias;
using api::OpenAiRequest;

using json = nlohmann::json;

int32_t ClampToInt32(int64_t v) {
  return static_cast<int32_t>(std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(),
                                                  std::numeric_limits<int32_t>::max()));
}

// ignore_eos and min_tokens (vLLM's extensions, which benchmark tools send), and speculative
// (this server's: false opts out of MTP speculative decoding).
absl::Status ParseLengthControls(const json& body, OpenAiRequest* out) {
  auto ignore_eos = OptBool(body, "ignore_eos", "ignore_eos");
  if (!ignore_eos.ok()) return ignore_eos.status();
  out->ignore_eos = ignore_eos->value_or(false);
  auto speculative = OptBool(body, "speculative", "speculative");
  if (!speculative.ok()) return speculative.status();
  out->speculative = speculative->value_or(true);
  auto min_tokens = OptInt(body, "min_tokens");
  if (!min_tokens.ok()) return min_tokens.status();
  if (min_tokens->has_value()) out->min_tokens = ClampToInt32(**min_tokens);
  return absl::OkStatus();
}

namespace {

// A logit_bias key: a token id written as a decimal integer (OpenAI's form, "50256").
bool ParseTokenKey(const std::string& key, int64_t* id) {
  const size_t digits_from = !key.empty() && key[0] == '-' ? 1 : 0;
  if (key.size() <= digits_from || key.size() - digits_from > 12) return false;
  for (size_t i = digits_from; i < key.size(); ++i) {
    if (key[i] < '0' || key[i] > '9') return false;
  }
  return absl::SimpleAtoi(key, id);
}

absl::Status ParseLogitBias(const json& body, OpenAiRequest* out) {
  const json* bias = Field(body, "logit_bias");
  if (bias == nullptr) return absl::OkStatus();
  if (!bias->is_object()) {
    return WrongType("logit_bias", "an object mapping token ids to numbers", *bias);
  }
  if (bias->size() > kMaxLogitBias) {
    return BadValue("logit_bias",
                    absl::StrCat("at most ", kMaxLogitBias, " entries, got ", bias->size(), "."));
  }
  for (const auto& [key, value] : bias->items()) {
    int64_t id = 0;
    if (!ParseTokenKey(key, &id)) {
      return BadValue("logit_bias",
                      absl::StrCat("keys must be token ids (decimal integers), not '", key, "'."));
    }
    if (!value.is_number()) {
      return InvalidRequest(absl::StrCat("Invalid type for 'logit_bias': expected a number for "
                                         "token ",
                                         key, ", but got ", TypeName(value), " instead."),
                            "logit_bias", "invalid_type");
    }
    out->logit_bias.emplace_back(id, value.get<double>());
  }
  std::sort(out->logit_bias.begin(), out->logit_bias.end());
  return absl::OkStatus();
}

absl::Status ParseLogprobs(ApiKind kind, const json& body, OpenAiRequest* out) {
  if (kind == ApiKind::kCompletion) {
    // The legacy API's `logprobs` is the number of alternatives per token.
    if (const json* v = Field(body, "logprobs")) {
      if (!IsInteger(*v)) return WrongType("logprobs", "an integer", *v);
      if (v->is_number_unsigned()
              ? v->get<uint64_t>() > kMaxCompletionTopLogprobs
              : v->get<int64_t>() < 0 || v->get<int64_t>() > kMaxCompletionTopLogprobs) {
        return BadValue("logprobs",
                        absl::StrCat("must be between 0 and ", kMaxCompletionTopLogprobs,
                                     " (the number of alternatives per token)."));
      }
      out->logprobs = true;
      out->top_logprobs = static_cast<int32_t>(v->get<int64_t>());
    }
    if (Field(body, "top_logprobs") != nullptr) {
      return Unsupported("top_logprobs",
                         "on /v1/completions the integer 'logprobs' sets the number of "
                         "alternatives.");
    }
    return absl::OkStatus();
  }
  auto logprobs = OptBool(body, "logprobs", "logprobs");
  if (!logprobs.ok()) return logprobs.status();
  out->logprobs = logprobs->value_or(false);
  auto top = OptInt(body, "top_logprobs");
  if (!top.ok()) return top.status();
  if (top->has_value()) {
    if (!out->logprobs) {
      return BadValue("top_logprobs", "'logprobs' must be true when 'top_logprobs' is used.");
    }
    out->top_logprobs = ClampToInt32(**top);
  }
  return absl::OkStatus();
}

}  // namespace

// Penalties, logit_bias, logprobs and best_of (their ranges: ValidateOpenAiRequest).
absl::Status ParseSamplingControls(ApiKind kind, const json& body, OpenAiRequest* out) {
  for (const char* key : {"presence_penalty", "frequency_penalty", "repetition_penalty"}) {
    auto v = OptNumber(body, key);
    if (!v.ok()) return v.status();
    if (!v->has_value()) continue;
    const std::string k = key;
    (k == "presence_penalty"    ? out->presence_penalty
     : k == "frequency_penalty" ? out->frequency_penalty
                                : out->repetition_penalty) = **v;
  }
  absl::Status s = ParseLogitBias(body, out);
  if (!s.ok()) return s;
  s = ParseLogprobs(kind, body, out);
  if (!s.ok()) return s;
  // best_of picks the most likely of several samples server-side; equal to n it changes nothing.
  auto best_of = OptInt(body, "best_of");
  if (!best_of.ok()) return best_of.status();
  if (best_of->has_value() && **best_of != out->n) {
    return Unsupported("best_of",
                       "only best_of = n is supported (every sample is returned; none is picked).");
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
                                                                         "speculative",
                                                                         "logprobs",
                                                                         "top_logprobs",
                                                                         "echo",
                                                                         "best_of",
                                                                         "suffix",
                                                                         "presence_penalty",
                                                                         "frequency_penalty",
                                                                         "repetition_penalty",
                                                                         "logit_bias",
                                                                         "tools",
                                                                         "tool_choice",
                                                                         "parallel_tool_calls",
                                                                         "functions",
                                                                         "response_format",
                                                                         "chat_template_kwargs"};
  for (const auto& [key, value] : body.items()) {
    if (kKnown->contains(key) || value.is_null()) continue;
    if (key == "reasoning_effort") {
      return Unsupported(key,
                         "the model's chat template has no reasoning effort; template variables "
                         "go in 'chat_template_kwargs'.");
    }
    return InvalidRequest(absl::StrCat("Unrecognized request argument supplied: ", key), key,
                          "unknown_parameter");
  }
  (void)kind;
  return absl::OkStatus();
}

// Known OpenAI features this server does not implement: refused when asked for.
absl::Status RefuseUnsupported(ApiKind /*kind*/, const json& body) {
  if (const json* v = Field(body, "echo")) {
    if (!v->is_boolean()) return WrongType("echo", "a boolean", *v);
    if (v->get<bool>()) return Unsupported("echo", "echoing the prompt is not supported.");
  }
  if (const json* v = Field(body, "suffix")) {
    if (!v->is_string()) return WrongType("suffix", "a string", *v);
    if (!v->get<std::string>().empty()) return Unsupported("suffix", "suffix is not supported.");
  }
  // The legacy form of `tools`.
  if (const json* v = Field(body, "functions")) {
    if (!v->is_array()) return WrongType("functions", "an array", *v);
    if (!v->empty()) {
      return Unsupported("functions",
                         "the legacy 'functions' parameter is not supported; use "
                         "'tools'.");
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
