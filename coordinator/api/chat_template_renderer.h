// ChatTemplateRenderer: the checkpoint's chat template (tokenizer_config.json's chat_template or
// chat_template.jinja; see tok::Tokenizer::chat_template()) parsed once with common/jinja and
// rendered per request, as transformers' apply_chat_template renders it.
//
// Variables (transformers' render(messages=..., tools=..., documents=None,
// add_generation_prompt=True, **special_tokens, **chat_template_kwargs)): `messages` as
// {"role", "content", "tool_calls": [{"id", "type", "function": {"name", "arguments"}}],
// "tool_call_id"} objects (content null when absent; ids only when given), `tools` as
// [{"type": "function", "function": {"name", "description", "parameters"}}] (as vLLM passes
// them: description and parameters None when not given; `tools` None without tools),
// `add_generation_prompt` true (generation always starts a new assistant turn), `bos_token` /
// `eos_token` from tokenizer_config.json, and every key of the request's chat_template_kwargs. Like
// vLLM, a kwarg may override a special token but not the variables the server sets itself:
// `messages`, `tools`, `documents`, `add_generation_prompt` (vLLM lets this one through; this
// server has no continue_final_message, so the prompt always ends in the generation prompt), and
// vLLM's refused `chat_template` and `tokenize`. Unlike vLLM, kwargs the template never reads are
// passed too rather than dropped; the template ignores them either way.
//
// Client text never becomes a special token: before rendering, every special added token and
// every U+E000 in the strings of the messages, the tools and the kwargs is replaced by a marker
// (U+E000 <index> U+E001, private-use characters) for the literal text. Render() returns the
// output cut into pieces: rendered text, in which special tokens are the template's own, and
// literals, the client's special-token strings, to be encoded as plain text. Templates see the
// marker instead of such a string (a template that looked for "<｜User｜>" inside a message
// would not find it); for every other input the text equals transformers' rendering.
// Limitation: a special token spanning the end of a client string and the template text right
// after it (a client string ending in "<｜Us" followed by template text "er｜>") would be matched;
// no known template writes part of a special token right after a variable.
//
// Errors: Create fails on a template that does not parse or cannot render a one-message
// conversation, naming where the template came from; Render fails with InvalidArgument (an
// OpenAI 400) naming `chat_template_kwargs` or `messages` on bad kwargs, template errors
// (raise_exception included) and exceeded render limits.
//
// Immutable after Create; Render is thread-safe.
#ifndef R1_COORDINATOR_API_CHAT_TEMPLATE_RENDERER_H_
#define R1_COORDINATOR_API_CHAT_TEMPLATE_RENDERER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/jinja/template.h"
#include "common/tokenizer/added_tokens.h"
#include "coordinator/api/openai_request.h"

namespace r1::api {

// A span of the rendered prompt. `literal`: client text holding a special-token string (or
// U+E000), to be encoded with no special token matched; otherwise rendered text.
struct ChatPiece {
  std::string text;
  bool literal = false;
};

struct ChatTemplateConfig {
  std::string source;  // the Jinja source
  std::string origin;  // where it came from, for errors ("<dir>/tokenizer_config.json: field ...")
  std::string bos_token;  // empty = undefined for the template
  std::string eos_token;  // empty = undefined for the template
  jinja::RenderLimits limits;
};

class ChatTemplateRenderer {
 public:
  // `added_tokens`: the tokenizer's (those flagged special are escaped in client text).
  static absl::StatusOr<std::unique_ptr<ChatTemplateRenderer>> Create(
      const ChatTemplateConfig& config, const std::vector<tok::AddedToken>& added_tokens);

  // Renders `messages` and `tools` (empty: None) with the generation prompt. `kwargs_json`: the
  // request's chat_template_kwargs as a JSON object text; empty = none.
  absl::StatusOr<std::vector<ChatPiece>> Render(const std::vector<ChatMessage>& messages,
                                                const std::vector<ChatTool>& tools,
                                                absl::string_view kwargs_json) const;

 private:
  ChatTemplateRenderer(jinja::Template tmpl, const ChatTemplateConfig& config,
                       const std::vector<tok::AddedToken>& added_tokens);

  jinja::Template template_;
  jinja::RenderLimits limits_;
  nlohmann::ordered_json special_tokens_;  // bos_token, eos_token
  tok::AddedTokenMatcher matcher_;
  std::vector<bool> special_;  // per added token index
};

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_CHAT_TEMPLATE_RENDERER_H_
