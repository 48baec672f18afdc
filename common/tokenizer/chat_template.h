// DeepSeek-R1's chat template (spec §12.1) in C++: renders an OpenAI-style message list to the
// prompt text exactly as Jinja2 renders R1's official template
// (tests/fixtures/deepseek-r1-chat_template.jinja), quirks included:
//   - all system messages, joined with "\n\n", go right after BOS;
//   - an assistant message without tool calls loses everything up to and including its last
//     "</think>" (earlier reasoning is not shown to the model again);
//   - tool calls: only the first tool call of the whole conversation opens with
//     "<｜Assistant｜>"[content]"<｜tool▁calls▁begin｜>"; every later call, even in a later
//     message, is "\n<｜tool▁call▁begin｜>..." (the template never resets its flag), and every
//     message with "tool_calls" ends with "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
//   - only the first tool message of the conversation opens "<｜tool▁outputs▁begin｜>";
//   - add_generation_prompt appends "<｜Assistant｜><think>\n" unless the conversation ends in
//     tool outputs (then it ends with "<｜tool▁outputs▁end｜>" and nothing else).
// Inputs the template would fail on are errors here too (InvalidArgument naming the message):
// non-string content (a list of content parts must be flattened by the caller), a null content
// where text is needed, "tool_calls" present but not a list (null included), tool calls without
// string type/function.name/function.arguments. Messages whose role is missing or not one of
// system/user/assistant/tool are skipped, as the template does.
//
// Stateless functions; thread-safe.
#ifndef R1_COMMON_TOKENIZER_CHAT_TEMPLATE_H_
#define R1_COMMON_TOKENIZER_CHAT_TEMPLATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace r1::tok {

struct ChatTemplateOptions {
  // The template's bos_token (R1: "<｜begin▁of▁sentence｜>").
  std::string bos_token = "<｜begin▁of▁sentence｜>";
  bool add_generation_prompt = false;
};

// Renders `messages` (a JSON array of {"role", "content", "tool_calls"} objects).
absl::StatusOr<std::string> RenderR1ChatTemplate(const nlohmann::json& messages,
                                                 const ChatTemplateOptions& options);

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_CHAT_TEMPLATE_H_
