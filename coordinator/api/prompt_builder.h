// PromptBuilder: turns a validated OpenAiRequest into prompt token ids.
//
// Chat: the checkpoint's chat template (the tokenizer's chat_template(): tokenizer_config.json or
// chat_template.jinja), rendered by ChatTemplateRenderer (chat_template_renderer.h) with
// add_generation_prompt and the request's chat_template_kwargs; for R1's template the prompt ends
// in "<｜Assistant｜><think>\n", so generation starts inside the reasoning. Special tokens are
// matched in the template's own text but never in text the client supplied: the renderer hands
// back the client's special-token strings as literal pieces; special added tokens are cut out of
// the rendered pieces only, and every run of text between two such tokens (rendered text and
// literals together, so BPE sees exactly the text Hugging Face would) is encoded with
// AddedTokenMatching::kNonSpecial. For a conversation whose contents hold no special-token
// strings the ids equal Encode(rendered, kAll), as transformers' apply_chat_template(
// tokenize=True); a client who types "<｜User｜>" gets it tokenized as text. Non-special added
// tokens (R1's "<think>" and "</think>") are matched everywhere, as Hugging Face does with
// encode_special_tokens=True.
//
// Completions: BOS (the tokenizer's post-processor prefix, i.e. Encode with
// add_special_tokens, never a hard-coded id) + the prompt encoded with every added token matched
// (the client writes the whole prompt, template markers included); no second BOS when the prompt
// already begins with it. Token-id prompts are used as given.
//
// Immutable after construction; thread-safe. The tokenizer is borrowed and must outlive *this.
#ifndef R1_COORDINATOR_API_PROMPT_BUILDER_H_
#define R1_COORDINATOR_API_PROMPT_BUILDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/added_tokens.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/api/chat_template_renderer.h"
#include "coordinator/api/openai_request.h"

namespace r1::api {

class PromptBuilder {
 public:
  // With the tokenizer's chat template. Fails when the tokenizer has no BOS (post-processor
  // prefix), no `eos_token` added token, or no chat template, or when the template does not parse
  // (ChatTemplateRenderer::Create); the errors name the file and field.
  static absl::StatusOr<std::unique_ptr<PromptBuilder>> Create(const tok::Tokenizer* tokenizer,
                                                               const std::string& eos_token);
  // With the tokenizer's BOS / EOS tokens and `template_source` (named `template_origin` in
  // errors) instead of the tokenizer's chat template — e.g. a template that renders `tools`,
  // given by the operator (r1-coordinator --chat_template); an empty source = Create above.
  static absl::StatusOr<std::unique_ptr<PromptBuilder>> CreateWithChatTemplate(
      const tok::Tokenizer* tokenizer, const std::string& eos_token,
      const std::string& template_source, const std::string& template_origin);
  // With another chat template (`chat_template.source`, named by `chat_template.origin`); its
  // bos_token / eos_token are used as given.
  static absl::StatusOr<std::unique_ptr<PromptBuilder>> Create(
      const tok::Tokenizer* tokenizer, const std::string& eos_token,
      const ChatTemplateConfig& chat_template);

  absl::StatusOr<std::vector<int32_t>> Build(const OpenAiRequest& request) const;

  // The chat prompt of a chat request (messages, chat_template_kwargs) as text (what the ids
  // decode to), for tests, logs and the Tokenize RPC.
  absl::StatusOr<std::string> RenderChat(const OpenAiRequest& request) const;

  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }

 private:
  PromptBuilder(const tok::Tokenizer* tokenizer, int32_t bos_id, int32_t eos_id,
                std::unique_ptr<ChatTemplateRenderer> renderer);

  absl::StatusOr<std::vector<int32_t>> EncodeChat(const OpenAiRequest& request) const;
  absl::StatusOr<std::vector<int32_t>> EncodeCompletion(const std::string& prompt) const;

  const tok::Tokenizer* tokenizer_;
  int32_t bos_id_;
  int32_t eos_id_;
  std::unique_ptr<ChatTemplateRenderer> renderer_;
  tok::AddedTokenMatcher matcher_;
};

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_PROMPT_BUILDER_H_
