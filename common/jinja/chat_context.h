// The variables a chat template sees, built the way Hugging Face transformers'
// apply_chat_template builds them: render(messages=..., tools=..., documents=None,
// add_generation_prompt=..., **special_tokens, **chat_template_kwargs).
//
//   ASSIGN_OR_RETURN(nlohmann::ordered_json ctx, BuildChatContext(inputs));
//   ASSIGN_OR_RETURN(std::string prompt, tmpl.Render(ctx));
//
// Stateless; thread-safe.
#ifndef R1_COMMON_JINJA_CHAT_CONTEXT_H_
#define R1_COMMON_JINJA_CHAT_CONTEXT_H_

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace r1::jinja {

struct ChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // OpenAI-style messages
  nlohmann::ordered_json tools;  // null (no tools) or an array of tool definitions
  bool add_generation_prompt = false;
  // The tokenizer's special tokens by name, e.g. {"bos_token": "<｜begin▁of▁sentence｜>",
  // "eos_token": "<｜end▁of▁sentence｜>"}; null or an object of strings.
  nlohmann::ordered_json special_tokens;
  // The request's chat_template_kwargs (e.g. {"thinking": true}); null or an object. They
  // override special tokens of the same name.
  nlohmann::ordered_json kwargs;
};

// Errors (InvalidArgument): messages not an array, tools neither null nor an array, special
// tokens or kwargs neither null nor an object, a kwarg named messages, tools, documents or
// add_generation_prompt (Python would reject the duplicate keyword too).
absl::StatusOr<nlohmann::ordered_json> BuildChatContext(const ChatTemplateInputs& inputs);

}  // namespace r1::jinja

#endif  // R1_COMMON_JINJA_CHAT_CONTEXT_H_
