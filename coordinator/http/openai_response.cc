#include "coordinator/http/openai_response.h"

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/version.h"

namespace r1::http {

using json = nlohmann::json;

std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string SseEvent(const json& payload) {
  return absl::StrCat("data: ", DumpJson(payload), "\n\n");
}

std::string NewResponseId(absl::string_view prefix) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id.push_back(kAlphabet[pick(rng)]);
  return id;
}

json UsageJson(const api::Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}}};
}

std::string SystemFingerprint(absl::string_view model_id) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, 64 bits
  for (char c : absl::StrCat(kVersion, "/", model_id)) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return absl::StrCat("fp_r1serve_", kVersion, "_", absl::Hex(h >> 32, absl::kZeroPad8));
}

namespace {

json Envelope(const ResponseMeta& meta, absl::string_view object) {
  return {{"id", meta.id},
          {"object", std::string(object)},
          {"created", meta.created},
          {"model", meta.model},
          {"system_fingerprint", meta.system_fingerprint}};
}

json FinishJson(absl::string_view finish_reason) {
  return finish_reason.empty() ? json(nullptr) : json(std::string(finish_reason));
}

}  // namespace

json ToolCallsJson(const std::vector<api::ToolCall>& calls, bool streamed) {
  json out = json::array();
  for (const api::ToolCall& c : calls) {
    json call = json::object();
    if (streamed) call["index"] = c.index;
    call["id"] = c.id;
    call["type"] = "function";
    call["function"] = {{"name", c.name}, {"arguments", c.arguments}};
    out.push_back(std::move(call));
  }
  return out;
}

json ChatChoice(int index, const std::string& reasoning, const std::string& content,
                const std::vector<api::ToolCall>& tool_calls, json logprobs,
                absl::string_view finish_reason) {
  json message = {{"role", "assistant"}};
  message["content"] = content.empty() && !tool_calls.empty() ? json(nullptr) : json(content);
  message["reasoning_content"] = reasoning.empty() ? json(nullptr) : json(reasoning);
  if (!tool_calls.empty()) message["tool_calls"] = ToolCallsJson(tool_calls, false);
  return {{"index", index},
          {"message", std::move(message)},
          {"logprobs", std::move(logprobs)},
          {"finish_reason", FinishJson(finish_reason)}};
}

json ChatCompletion(const ResponseMeta& meta, json choices, const api::Usage& usage) {
  json out = Envelope(meta, "chat.completion");
  out["choices"] = std::move(choices);
  out["usage"] = UsageJson(usage);
  return out;
}

json ChatChunk(const ResponseMeta& meta, int index, json delta, json logprobs,
               absl::string_view finish_reason, bool usage_null) {
  json out = Envelope(meta, "chat.completion.chunk");
  out["choices"] = json::array({{{"index", index},
                                 {"delta", std::move(delta)},
                                 {"logprobs", std::move(logprobs)},
                                 {"finish_reason", FinishJson(finish_reason)}}});
  if (usage_null) out["usage"] = nullptr;
  return out;
}

json UsageChunk(const ResponseMeta& meta, absl::string_view object, const api::Usage& usage) {
  json out = Envelope(meta, object);
  out["choices"] = json::array();
  out["usage"] = UsageJson(usage);
  return out;
}

json TextChoice(int index, const std::string& text, json logprobs,
                absl::string_view finish_reason) {
  return {{"index", index},
          {"text", text},
          {"logprobs", std::move(logprobs)},
          {"finish_reason", FinishJson(finish_reason)}};
}

json TextCompletion(const ResponseMeta& meta, json choices, const api::Usage& usage) {
  json out = Envelope(meta, "text_completion");
  out["choices"] = std::move(choices);
  out["usage"] = UsageJson(usage);
  return out;
}

json TextCompletionChunk(const ResponseMeta& meta, int index, const std::string& text,
                         json logprobs, absl::string_view finish_reason, bool usage_null) {
  json out = Envelope(meta, "text_completion");
  out["choices"] = json::array({TextChoice(index, text, std::move(logprobs), finish_reason)});
  if (usage_null) out["usage"] = nullptr;
  return out;
}

json ModelObject(const ServedModel& model) {
  return {{"id", model.id},
          {"object", "model"},
          {"created", model.created_unix},
          {"owned_by", "r1serve"},
          {"max_model_len", model.max_model_len}};
}

json ModelList(const ServedModel& model) {
  return {{"object", "list"}, {"data", json::array({ModelObject(model)})}};
}

}  // namespace r1::http
