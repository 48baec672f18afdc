#include "coordinator/api/prompt_builder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/api/api_status.h"

namespace r1::api {

absl::StatusOr<std::unique_ptr<PromptBuilder>> PromptBuilder::Create(
    const tok::Tokenizer* tokenizer, const std::string& eos_token) {
  return CreateWithChatTemplate(tokenizer, eos_token, "", "");
}

absl::StatusOr<std::unique_ptr<PromptBuilder>> PromptBuilder::CreateWithChatTemplate(
    const tok::Tokenizer* tokenizer, const std::string& eos_token,
    const std::string& template_source, const std::string& template_origin) {
  if (tokenizer == nullptr) return absl::InvalidArgumentError("PromptBuilder: no tokenizer");
  ChatTemplateConfig config;
  config.source = template_source.empty() ? tokenizer->chat_template() : template_source;
  config.origin = template_source.empty() ? tokenizer->chat_template_source() : template_origin;
  // transformers passes the tokenizer's special tokens (tokenizer_config.json) to the template.
  if (tokenizer->bos_id().has_value())
    config.bos_token = tokenizer->IdToToken(*tokenizer->bos_id());
  if (tokenizer->eos_id().has_value())
    config.eos_token = tokenizer->IdToToken(*tokenizer->eos_id());
  return Create(tokenizer, eos_token, config);
}

absl::StatusOr<std::unique_ptr<PromptBuilder>> PromptBuilder::Create(
    const tok::Tokenizer* tokenizer, const std::string& eos_token,
    const ChatTemplateConfig& chat_template) {
  if (tokenizer == nullptr) return absl::InvalidArgumentError("PromptBuilder: no tokenizer");
  if (tokenizer->prefix_ids().empty()) {
    return absl::InvalidArgumentError(
        "tokenizer: its post-processor adds no BOS (needed for completions)");
  }
  const std::optional<int32_t> eos = tokenizer->AddedTokenId(eos_token);
  if (!eos.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer: no added token '", eos_token, "' (the EOS token)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ChatTemplateRenderer> renderer,
                   ChatTemplateRenderer::Create(chat_template, tokenizer->added_tokens()));
  return std::unique_ptr<PromptBuilder>(
      new PromptBuilder(tokenizer, tokenizer->prefix_ids()[0], *eos, std::move(renderer)));
}

PromptBuilder::PromptBuilder(const tok::Tokenizer* tokenizer, int32_t bos_id, int32_t eos_id,
                             std::unique_ptr<ChatTemplateRenderer> renderer)
    : tokenizer_(tokenizer),
      bos_id_(bos_id),
      eos_id_(eos_id),
      renderer_(std::move(renderer)),
      matcher_(tokenizer->added_tokens()) {}

absl::StatusOr<std::vector<int32_t>> PromptBuilder::Build(const OpenAiRequest& request) const {
  if (request.kind == ApiKind::kChat) return EncodeChat(request);
  if (request.prompt_is_ids) return request.prompt_ids;
  return EncodeCompletion(request.prompt_text);
}

absl::StatusOr<std::string> PromptBuilder::RenderChat(const OpenAiRequest& request) const {
  ASSIGN_OR_RETURN(std::vector<ChatPiece> pieces, renderer_->Render(request.messages, request.tools,
                                                                    request.chat_template_kwargs));
  std::string out;
  for (const ChatPiece& p : pieces) out += p.text;
  return out;
}

absl::StatusOr<std::vector<int32_t>> PromptBuilder::EncodeChat(const OpenAiRequest& request) const {
  ASSIGN_OR_RETURN(std::vector<ChatPiece> pieces, renderer_->Render(request.messages, request.tools,
                                                                    request.chat_template_kwargs));
  const std::vector<tok::AddedToken>& added = tokenizer_->added_tokens();
  tok::EncodeOptions run_options;
  run_options.add_special_tokens = false;
  run_options.added_tokens = tok::AddedTokenMatching::kNonSpecial;
  std::vector<int32_t> ids;
  std::string run;
  auto flush = [&]() -> absl::Status {
    if (run.empty()) return absl::OkStatus();
    absl::Status s = tokenizer_->EncodeAppend(run, run_options, &ids);
    run.clear();
    // Invalid UTF-8 cannot come from a parsed JSON body; anything else is the client's text.
    if (!s.ok()) return InvalidRequest(s.message(), "messages");
    return absl::OkStatus();
  };
  std::vector<tok::Segment> segments;
  for (const ChatPiece& piece : pieces) {
    if (piece.literal) {
      run += piece.text;
      continue;
    }
    segments.clear();
    matcher_.Split(piece.text, tok::AddedTokenMatching::kAll, &segments);
    for (const tok::Segment& seg : segments) {
      if (seg.token >= 0 && added[static_cast<size_t>(seg.token)].special) {
        RETURN_IF_ERROR(flush());
        ids.push_back(added[static_cast<size_t>(seg.token)].id);
      } else {
        run.append(piece.text, seg.begin, seg.end - seg.begin);
      }
    }
  }
  RETURN_IF_ERROR(flush());
  return ids;
}

absl::StatusOr<std::vector<int32_t>> PromptBuilder::EncodeCompletion(
    const std::string& prompt) const {
  tok::EncodeOptions options;
  options.add_special_tokens = false;
  options.added_tokens = tok::AddedTokenMatching::kAll;
  auto ids = tokenizer_->Encode(prompt, options);
  if (!ids.ok()) return InvalidRequest(ids.status().message(), "prompt");
  const std::vector<int32_t>& prefix = tokenizer_->prefix_ids();
  const bool has_bos =
      ids->size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), ids->begin());
  if (!has_bos) ids->insert(ids->begin(), prefix.begin(), prefix.end());
  return ids;
}

}  // namespace r1::api
