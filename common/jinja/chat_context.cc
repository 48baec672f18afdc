// Chat template variables as transformers builds them (see chat_context.h).
#include "common/jinja/chat_context.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace r1::jinja {

absl::StatusOr<nlohmann::ordered_json> BuildChatContext(const ChatTemplateInputs& inputs) {
  if (!inputs.messages.is_array()) {
    return absl::InvalidArgumentError("chat template messages must be a JSON array");
  }
  if (!inputs.tools.is_null() && !inputs.tools.is_array()) {
    return absl::InvalidArgumentError("chat template tools must be null or a JSON array");
  }
  if (!inputs.special_tokens.is_null() && !inputs.special_tokens.is_object()) {
    return absl::InvalidArgumentError("special tokens must be null or a JSON object");
  }
  if (!inputs.kwargs.is_null() && !inputs.kwargs.is_object()) {
    return absl::InvalidArgumentError("chat_template_kwargs must be null or a JSON object");
  }
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = inputs.messages;
  ctx["tools"] = inputs.tools;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = inputs.add_generation_prompt;
  if (inputs.special_tokens.is_object()) {
    for (auto it = inputs.special_tokens.begin(); it != inputs.special_tokens.end(); ++it) {
      if (ctx.contains(it.key())) {
        return absl::InvalidArgumentError(
            absl::StrCat("special token name '", it.key(), "' is reserved"));
      }
      ctx[it.key()] = it.value();
    }
  }
  if (inputs.kwargs.is_object()) {
    for (auto it = inputs.kwargs.begin(); it != inputs.kwargs.end(); ++it) {
      const std::string& k = it.key();
      if (k == "messages" || k == "tools" || k == "documents" || k == "add_generation_prompt") {
        return absl::InvalidArgumentError(
            absl::StrCat("chat_template_kwargs may not set '", k, "'"));
      }
      ctx[k] = it.value();
    }
  }
  return ctx;
}

}  // namespace r1::jinja
