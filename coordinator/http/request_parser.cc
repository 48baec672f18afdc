#include "coordinator/http/request_parser.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/api/json_nesting.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/internal/request_json.h"

namespace r1::http {
namespace {

using json = nlohmann::json;
using api::ApiKind;
using api::ChatMessage;
using api::ChatToolCall;
using api::InvalidRequest;
using api::kMaxStopStringBytes;
using api::kMaxStopStrings;
using api::kMaxStopTokenIds;
using api::OpenAiRequest;
using api::RequestLimits;
using internal::BadValue;
using internal::Field;
using internal::IsInteger;
using internal::OptBool;
using internal::OptInt;
using internal::OptNumber;
using internal::TypeName;
using internal::Unsupported;
using internal::WrongType;

// Text of a message's content: a string, or an array of {"type":"text","text":...} parts.
absl::StatusOr<std::string> ContentText(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    return WrongType(param, "a string or an array of content parts", content);
  if (content.empty()) return BadValue(param, "empty array; expected at least one content part.");
  std::string text;
  for (size_t k = 0; k < content.size(); ++k) {
    const std::string p = absl::StrCat(param, "[", k, "]");
    const json& part = content[k];
    if (!part.is_object()) return WrongType(p, "an object", part);
    const json* type = Field(part, "type");
    if (type == nullptr)
      return InvalidRequest(absl::StrCat("Missing required parameter: '", p, ".type'."),
                            absl::StrCat(p, ".type"), "missing_required_parameter");
    if (!type->is_string()) return WrongType(absl::StrCat(p, ".type"), "a string", *type);
    if (type->get<std::string>() != "text") {
      return Unsupported(absl::StrCat(p, ".type"),
                         absl::StrCat("content parts of type '", type->get<std::string>(),
                                      "' are not supported; only 'text'."));
    }
    const json* t = Field(part, "text");
    if (t == nullptr) {
      return InvalidRequest(absl::StrCat("Missing required parameter: '", p, ".text'."),
                            absl::StrCat(p, ".text"), "missing_required_parameter");
    }
    if (!t->is_string()) return WrongType(absl::StrCat(p, ".text"), "a string", *t);
    if (k > 0) text.push_back('\n');
    text += t->get<std::string>();
  }
  return text;
}

absl::StatusOr<ChatToolCall> ParseToolCall(const json& call, const std::string& param) {
  if (!call.is_object()) return WrongType(param, "an object", call);
  ChatToolCall out;
  const json* type = Field(call, "type");
  if (type != nullptr && !type->is_string()) {
    return WrongType(absl::StrCat(param, ".type"), "a string", *type);
  }
  out.type = type == nullptr ? "function" : type->get<std::string>();
  if (out.type != "function") {
    return BadValue(absl::StrCat(param, ".type"), "only 'function' tool calls are supported.");
  }
  const json* fn = Field(call, "function");
  if (fn == nullptr) {
    return InvalidRequest(absl::StrCat("Missing required parameter: '", param, ".function'."),
                          absl::StrCat(param, ".function"), "missing_required_parameter");
  }
  if (!fn->is_object()) return WrongType(absl::StrCat(param, ".function"), "an object", *fn);
  for (const char* key : {"name", "arguments"}) {
    const std::string p = absl::StrCat(param, ".function.", key);
    const json* v = Field(*fn, key);
    if (v == nullptr) {
      return InvalidRequest(absl::StrCat("Missing required parameter: '", p, "'."), p,
                            "missing_required_parameter");
    }
    if (!v->is_string()) return WrongType(p, "a string", *v);
    (std::string(key) == "name" ? out.name : out.arguments) = v->get<std::string>();
  }
  if (const json* id = Field(call, "id")) {
    if (!id->is_string()) return WrongType(absl::StrCat(param, ".id"), "a string", *id);
    out.id = id->get<std::string>();
  }
  return out;
}

absl::StatusOr<ChatMessage> ParseMessage(const json& m, size_t i) {
  const std::string param = absl::StrCat("messages[", i, "]");
  if (!m.is_object()) return WrongType(param, "an object", m);
  const json* role = Field(m, "role");
  if (role == nullptr) {
    return InvalidRequest(absl::StrCat("Missing required parameter: '", param, ".role'."),
                          absl::StrCat(param, ".role"), "missing_required_parameter");
  }
  if (!role->is_string()) return WrongType(absl::StrCat(param, ".role"), "a string", *role);
  ChatMessage out;
  out.role = role->get<std::string>();
  if (out.role == "developer") out.role = "system";
  if (out.role != "system" && out.role != "user" && out.role != "assistant" && out.role != "tool") {
    return BadValue(absl::StrCat(param, ".role"),
                    absl::StrCat("'", role->get<std::string>(),
                                 "' is not one of 'system', 'developer', 'user', 'assistant', "
                                 "'tool'."));
  }
  if (out.role == "assistant") {
    if (const json* calls = Field(m, "tool_calls")) {
      if (!calls->is_array()) {
        return WrongType(absl::StrCat(param, ".tool_calls"), "an array", *calls);
      }
      out.has_tool_calls = true;
      for (size_t k = 0; k < calls->size(); ++k) {
        auto call = ParseToolCall((*calls)[k], absl::StrCat(param, ".tool_calls[", k, "]"));
        if (!call.ok()) return call.status();
        out.tool_calls.push_back(*std::move(call));
      }
    }
  }
  if (const json* id = Field(m, "tool_call_id"); id != nullptr && out.role == "tool") {
    if (!id->is_string()) return WrongType(absl::StrCat(param, ".tool_call_id"), "a string", *id);
    out.tool_call_id = id->get<std::string>();
  }
  const std::string cparam = absl::StrCat(param, ".content");
  const json* content = Field(m, "content");
  if (content == nullptr) {
    if (out.role == "assistant" && out.has_tool_calls) return out;  // content: null
    return InvalidRequest(absl::StrCat("Missing required parameter: '", cparam, "'."), cparam,
                          "missing_required_parameter");
  }
  auto text = ContentText(*content, cparam);
  if (!text.ok()) return text.status();
  out.content = *std::move(text);
  return out;
}

absl::Status ParseMessages(const json& body, OpenAiRequest* out) {
  const json* messages = Field(body, "messages");
  if (messages == nullptr) {
    return InvalidRequest("Missing required parameter: 'messages'.", "messages",
                          "missing_required_parameter");
  }
  if (!messages->is_array()) return WrongType("messages", "an array", *messages);
  if (messages->empty()) {
    return BadValue("messages", "empty array; expected at least one message.");
  }
  for (size_t i = 0; i < messages->size(); ++i) {
    auto m = ParseMessage((*messages)[i], i);
    if (!m.ok()) return m.status();
    out->messages.push_back(*std::move(m));
  }
  return absl::OkStatus();
}

// A token id in [0, vocab_size) (below 2^31 when the vocabulary size is not known).
absl::StatusOr<int32_t> TokenId(const json& v, const std::string& param,
                                const RequestLimits& limits) {
  if (!IsInteger(v)) return WrongType(param, "an integer token id", v);
  if (v.is_number_integer() && v.get<int64_t>() < 0) {
    return BadValue(param, "token ids must be >= 0.");
  }
  const uint64_t id = v.get<uint64_t>();
  const uint64_t limit = limits.vocab_size > 0 ? static_cast<uint64_t>(limits.vocab_size)
                                               : static_cast<uint64_t>(1) << 31;
  if (id >= limit) {
    return BadValue(
        param, absl::StrCat("token id ", id, " is not below the vocabulary size ", limit, "."));
  }
  return static_cast<int32_t>(id);
}

absl::Status ParsePrompt(const json& body, const RequestLimits& limits, OpenAiRequest* out) {
  const json* prompt = Field(body, "prompt");
  if (prompt == nullptr) {
    return InvalidRequest("Missing required parameter: 'prompt'.", "prompt",
                          "missing_required_parameter");
  }
  if (prompt->is_string()) {
    out->prompt_text = prompt->get<std::string>();
    return absl::OkStatus();
  }
  if (!prompt->is_array()) {
    return WrongType("prompt", "a string, an array of one string or an array of token ids",
                     *prompt);
  }
  if (prompt->empty()) return BadValue("prompt", "empty array.");
  if ((*prompt)[0].is_string()) {
    if (prompt->size() != 1) {
      return Unsupported("prompt", "only one prompt per request is supported (batching is not).");
    }
    out->prompt_text = (*prompt)[0].get<std::string>();
    return absl::OkStatus();
  }
  if ((*prompt)[0].is_array()) {
    return Unsupported("prompt", "arrays of token-id arrays (batches) are not supported.");
  }
  out->prompt_is_ids = true;
  out->prompt_ids.reserve(prompt->size());
  for (size_t i = 0; i < prompt->size(); ++i) {
    absl::StatusOr<int32_t> id = TokenId((*prompt)[i], absl::StrCat("prompt[", i, "]"), limits);
    if (!id.ok()) return id.status();
    out->prompt_ids.push_back(*id);
  }
  return absl::OkStatus();
}

absl::Status ParseStop(const json& body, OpenAiRequest* out) {
  const json* stop = Field(body, "stop");
  if (stop == nullptr) return absl::OkStatus();
  auto add = [&](const json& s, const std::string& param) -> absl::Status {
    if (!s.is_string()) return WrongType(param, "a string", s);
    const std::string& v = s.get_ref<const std::string&>();
    if (v.empty()) return BadValue(param, "stop strings must not be empty.");
    if (v.size() > kMaxStopStringBytes) {
      return BadValue(param,
                      absl::StrCat("stop strings are limited to ", kMaxStopStringBytes, " bytes."));
    }
    out->stop.push_back(v);
    return absl::OkStatus();
  };
  if (stop->is_string()) return add(*stop, "stop");
  if (!stop->is_array()) return WrongType("stop", "a string or an array of strings", *stop);
  if (stop->size() > kMaxStopStrings) {
    return BadValue("stop", absl::StrCat("at most ", kMaxStopStrings, " stop sequences."));
  }
  for (size_t i = 0; i < stop->size(); ++i) {
    absl::Status s = add((*stop)[i], absl::StrCat("stop[", i, "]"));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseStopTokenIds(const json& body, const RequestLimits& limits, OpenAiRequest* out) {
  const json* ids = Field(body, "stop_token_ids");
  if (ids == nullptr) return absl::OkStatus();
  if (!ids->is_array()) return WrongType("stop_token_ids", "an array of token ids", *ids);
  if (ids->size() > kMaxStopTokenIds) {
    return BadValue("stop_token_ids", absl::StrCat("at most ", kMaxStopTokenIds, " token ids."));
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    absl::StatusOr<int32_t> id =
        TokenId((*ids)[i], absl::StrCat("stop_token_ids[", i, "]"), limits);
    if (!id.ok()) return id.status();
    out->stop_token_ids.push_back(*id);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(ApiKind kind, absl::string_view body,
                                                 const RequestLimits& limits) {
  if (api::JsonNestingDepth(body) > kMaxJsonDepth) {
    return InvalidRequest(
        absl::StrCat("The request body nests deeper than ", kMaxJsonDepth, " levels."), "",
        "invalid_json");
  }
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return InvalidRequest(
        "We could not parse the JSON body of your request. The body must be valid JSON "
        "(UTF-8).",
        "", "invalid_json");
  }
  absl::StatusOr<OpenAiRequest> out = ParseOpenAiRequestJson(kind, parsed, limits);
  if (out.ok() && !out->tools.empty()) {
    // The tools' schemas as the client ordered their keys (the template may print them; `json`
    // sorts keys): the body parsed again, in order, now that it is known to be valid.
    const nlohmann::ordered_json ordered =
        nlohmann::ordered_json::parse(body.begin(), body.end(), nullptr, false);
    const auto& tools = ordered["tools"];
    for (size_t i = 0; i < out->tools.size() && i < tools.size(); ++i) {
      const auto& fn = tools[i]["function"];
      if (fn.contains("parameters") && fn["parameters"].is_object()) {
        out->tools[i].parameters_json = fn["parameters"].dump();
      }
    }
  }
  return out;
}

absl::StatusOr<OpenAiRequest> ParseOpenAiRequestJson(ApiKind kind, const json& body,
                                                     const RequestLimits& limits) {
  if (!body.is_object()) {
    return InvalidRequest(
        absl::StrCat("The request body must be a JSON object, not ", TypeName(body), "."), "",
        "invalid_json");
  }
  OpenAiRequest out;
  out.kind = kind;

  const json* model = Field(body, "model");
  if (model == nullptr) {
    return InvalidRequest("Missing required parameter: 'model'.", "model",
                          "missing_required_parameter");
  }
  if (!model->is_string()) return WrongType("model", "a string", *model);
  out.model = model->get<std::string>();

  if (kind == ApiKind::kChat) {
    absl::Status s = ParseMessages(body, &out);
    if (!s.ok()) return s;
  } else {
    absl::Status s = ParsePrompt(body, limits, &out);
    if (!s.ok()) return s;
  }

  // Integers.
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (kind == ApiKind::kCompletion && std::string(key) == "max_completion_tokens") continue;
    auto v = OptInt(body, key);
    if (!v.ok()) return v.status();
    if (!v->has_value()) continue;
    if (**v <= 0) return BadValue(key, "must be an integer greater than 0.");
    if (**v > std::numeric_limits<int32_t>::max()) {
      return BadValue(key, "must be at most 2147483647.");
    }
    // max_completion_tokens comes second and wins.
    out.max_tokens = **v;
  }
  auto n = OptInt(body, "n");
  if (!n.ok()) return n.status();
  if (n->has_value()) out.n = internal::ClampToInt32(**n);
  auto top_k = OptInt(body, "top_k");
  if (!top_k.ok()) return top_k.status();
  if (top_k->has_value()) out.top_k = internal::ClampToInt32(**top_k);
  if (const json* seed = Field(body, "seed")) {
    if (!IsInteger(*seed)) return WrongType("seed", "an integer", *seed);
    out.seed = seed->is_number_unsigned() ? seed->get<uint64_t>()
                                          : static_cast<uint64_t>(seed->get<int64_t>());
  }

  // Numbers (their ranges: ValidateOpenAiRequest).
  auto temperature = OptNumber(body, "temperature");
  if (!temperature.ok()) return temperature.status();
  if (temperature->has_value()) out.temperature = **temperature;
  auto top_p = OptNumber(body, "top_p");
  if (!top_p.ok()) return top_p.status();
  if (top_p->has_value()) out.top_p = **top_p;

  // Streaming.
  auto stream = OptBool(body, "stream", "stream");
  if (!stream.ok()) return stream.status();
  out.stream = stream->value_or(false);
  if (const json* so = Field(body, "stream_options")) {
    if (!so->is_object()) return WrongType("stream_options", "an object", *so);
    if (!out.stream) {
      return BadValue("stream_options", "only allowed when 'stream' is true.");
    }
    auto usage = OptBool(*so, "include_usage", "stream_options.include_usage");
    if (!usage.ok()) return usage.status();
    out.include_usage = usage->value_or(false);
  }

  // Variables for the chat template (vLLM's extension), checked where it is rendered.
  if (const json* kwargs = Field(body, "chat_template_kwargs")) {
    if (!kwargs->is_object()) return WrongType("chat_template_kwargs", "an object", *kwargs);
    if (!kwargs->empty()) out.chat_template_kwargs = kwargs->dump();
  }

  absl::Status s = ParseStop(body, &out);
  if (!s.ok()) return s;
  s = ParseStopTokenIds(body, limits, &out);
  if (!s.ok()) return s;
  if (const json* user = Field(body, "user")) {
    if (!user->is_string()) return WrongType("user", "a string", *user);
  }
  s = internal::ParseLengthControls(body, &out);
  if (!s.ok()) return s;
  s = internal::ParseSamplingControls(kind, body, &out);
  if (!s.ok()) return s;
  s = internal::ParseTools(kind, body, &out);
  if (!s.ok()) return s;
  s = internal::RefuseUnsupported(kind, body);
  if (!s.ok()) return s;
  s = internal::RefuseUnknown(kind, body);
  if (!s.ok()) return s;
  s = ValidateOpenAiRequest(&out, limits);
  if (!s.ok()) return s;
  return out;
}

}  // namespace r1::http
