#include "coordinator/grpc_api/generate_request.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/api/api_status.h"

namespace r1 {

std::vector<api::ChatTool> ChatToolsFromProto(
    const google::protobuf::RepeatedPtrField<r1::v1::Tool>& tools) {
  std::vector<api::ChatTool> out;
  out.reserve(static_cast<size_t>(tools.size()));
  for (const r1::v1::Tool& t : tools) {
    api::ChatTool tool;
    tool.name = t.name();
    if (t.has_description()) tool.description = t.description();
    tool.parameters_json = t.parameters_json();
    out.push_back(std::move(tool));
  }
  return out;
}

std::vector<api::ChatMessage> ChatMessagesFromProto(
    const google::protobuf::RepeatedPtrField<r1::v1::ChatMessage>& messages) {
  std::vector<api::ChatMessage> out;
  out.reserve(static_cast<size_t>(messages.size()));
  for (const r1::v1::ChatMessage& m : messages) {
    api::ChatMessage msg;
    msg.role = m.role() == "developer" ? "system" : m.role();
    msg.has_tool_calls = m.tool_calls_size() > 0;
    for (const r1::v1::ToolCall& c : m.tool_calls()) {
      msg.tool_calls.push_back(
          {c.type().empty() ? "function" : c.type(), c.name(), c.arguments(), c.id()});
    }
    if (!(msg.has_tool_calls && m.content().empty())) msg.content = m.content();
    if (msg.role == "tool") msg.tool_call_id = m.tool_call_id();
    out.push_back(std::move(msg));
  }
  return out;
}

absl::StatusOr<api::OpenAiRequest> OpenAiRequestFromProto(const r1::v1::GenerateRequest& request,
                                                          const api::RequestLimits& limits) {
  const int forms = (request.messages_size() > 0 ? 1 : 0) + (request.prompt().empty() ? 0 : 1) +
                    (request.prompt_token_ids_size() > 0 ? 1 : 0);
  if (forms != 1) {
    return api::InvalidRequest(
        forms == 0 ? "One of messages, prompt or prompt_token_ids is required."
                   : "Only one of messages, prompt or prompt_token_ids may be set.",
        "messages", forms == 0 ? "missing_required_parameter" : "invalid_value");
  }
  api::OpenAiRequest r;
  r.model = request.model();
  r.tools = ChatToolsFromProto(request.tools());
  if (request.tool_choice() == "none") {
    r.tool_choice = api::ToolChoice::kNone;
  } else if (request.tool_choice() == "required") {
    return api::InvalidRequest(
        "'required' is not supported (calls are not forced); use 'auto' or 'none'.", "tool_choice",
        "unsupported_parameter");
  } else if (!request.tool_choice().empty() && request.tool_choice() != "auto") {
    return api::InvalidRequest(
        absl::StrCat("Invalid value for 'tool_choice': '", request.tool_choice(),
                     "' is not one of 'auto', 'none'."),
        "tool_choice", "invalid_value");
  }
  if (request.messages_size() > 0) {
    r.kind = api::ApiKind::kChat;
    r.messages = ChatMessagesFromProto(request.messages());
    r.chat_template_kwargs = request.chat_template_kwargs();
  } else {
    if (!request.chat_template_kwargs().empty()) {
      return api::InvalidRequest("chat_template_kwargs applies to chat (messages) only.",
                                 "chat_template_kwargs", "unsupported_parameter");
    }
    r.kind = api::ApiKind::kCompletion;
    if (request.prompt_token_ids_size() > 0) {
      r.prompt_is_ids = true;
      r.prompt_ids.assign(request.prompt_token_ids().begin(), request.prompt_token_ids().end());
    } else {
      r.prompt_text = request.prompt();
    }
  }
  const r1::v1::SamplingParams& s = request.sampling();
  r.temperature = s.temperature();
  r.top_p = s.top_p() == 0.0f ? 1.0 : s.top_p();
  r.top_k = s.top_k();
  if (s.has_seed()) r.seed = s.seed();
  if (s.has_max_tokens()) r.max_tokens = s.max_tokens();
  r.stop.assign(s.stop().begin(), s.stop().end());
  r.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  r.ignore_eos = s.ignore_eos();
  r.min_tokens = s.min_tokens();
  r.speculative = !s.has_speculative() || s.speculative();
  r.presence_penalty = s.presence_penalty();
  r.frequency_penalty = s.frequency_penalty();
  r.repetition_penalty = s.repetition_penalty() == 0.0f ? 1.0 : s.repetition_penalty();
  for (const auto& [id, bias] : s.logit_bias()) r.logit_bias.emplace_back(id, bias);
  std::sort(r.logit_bias.begin(), r.logit_bias.end());
  r.logprobs = s.logprobs();
  r.top_logprobs = s.top_logprobs();
  r.n = s.n() == 0 ? 1 : s.n();
  absl::Status st = api::ValidateOpenAiRequest(&r, limits);
  if (!st.ok()) return st;
  return r;
}

}  // namespace r1
