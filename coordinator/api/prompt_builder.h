// PromptBuilder: turns a validated OpenAiRequest into prompt token ids.
//
// Chat: R1's chat template (common/tokenizer/chat_template.h) with add_generation_prompt, so the
// prompt ends in "<｜Assistant｜><think>\n" and generation starts inside the reasoning. Special
// tokens are matched in the template's own markers but never in text the client supplied:
// `Tokenizer::Encode` has one matching mode per call (kAll / kNonSpecial / kNone), so the
// template is rendered with a placeholder for every client string (message contents, tool call
// names and arguments), the placeholders are replaced by the real strings afterwards while their
// byte ranges are remembered, special added tokens are cut out of the template's ranges only, and
// every run of text between two such tokens (template text and client text together, so BPE
// sees exactly the text Hugging Face would) is encoded with AddedTokenMatching::kNonSpecial. For
// a conversation whose contents hold no special-token strings the ids equal
// Encode(rendered, kAll); a client who types "<｜User｜>" gets it tokenized as text. Non-special
// added tokens (R1's "<think>" and "</think>") are matched everywhere, as Hugging Face does with
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
#include "coordinator/api/openai_request.h"

namespace r1::api {

class PromptBuilder {
 public:
  // Fails when the tokenizer has no BOS (post-processor prefix) or no `eos_token` added token.
  static absl::StatusOr<std::unique_ptr<PromptBuilder>> Create(const tok::Tokenizer* tokenizer,
                                                               const std::string& eos_token);

  absl::StatusOr<std::vector<int32_t>> Build(const OpenAiRequest& request) const;

  // The chat prompt as text (what the ids decode to), for tests and logs.
  absl::StatusOr<std::string> RenderChat(const std::vector<ChatMessage>& messages) const;

  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }

 private:
  PromptBuilder(const tok::Tokenizer* tokenizer, int32_t bos_id, int32_t eos_id);

  // A span of the rendered prompt: template text or client text.
  struct Piece {
    std::string text;
    bool from_client = false;
  };
  absl::StatusOr<std::vector<Piece>> RenderPieces(const std::vector<ChatMessage>& messages) const;
  absl::StatusOr<std::vector<int32_t>> EncodeChat(const std::vector<ChatMessage>& messages) const;
  absl::StatusOr<std::vector<int32_t>> EncodeCompletion(const std::string& prompt) const;

  const tok::Tokenizer* tokenizer_;
  int32_t bos_id_;
  int32_t eos_id_;
  std::string bos_text_;
  tok::AddedTokenMatcher matcher_;
};

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_PROMPT_BUILDER_H_
