#include "coordinator/api/prompt_builder.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tokenizer/chat_template.h"
#include "coordinator/api/api_status.h"

namespace r1::api {
namespace {

using json = nlohmann::json;

// Placeholders: U+E000 <index> U+E001 (private-use characters; the template itself has none, and
// client strings never reach the renderer).
constexpr absl::string_view kOpen = "\xEE\x80\x80";
constexpr absl::string_view kClose = "\xEE\x80\x81";
constexpr absl::string_view kThinkEnd = "</think>";

}  // namespace

absl::StatusOr<std::unique_ptr<PromptBuilder>> PromptBuilder::Create(
    const tok::Tokenizer* tokenizer, const std::string& eos_token) {
  if (tokenizer == nullptr) return absl::InvalidArgumentError("PromptBuilder: no tokenizer");
  if (tokenizer->prefix_ids().empty()) {
    return absl::InvalidArgumentError(
        "tokenizer: its post-processor adds no BOS (needed for completions and the chat "
        "template)");
  }
  const std::optional<int32_t> eos = tokenizer->AddedTokenId(eos_token);
  if (!eos.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer: no added token '", eos_token, "' (the EOS token)"));
  }
  return std::unique_ptr<PromptBuilder>(
      new PromptBuilder(tokenizer, tokenizer->prefix_ids()[0], *eos));
}

PromptBuilder::PromptBuilder(const tok::Tokenizer* tokenizer, int32_t bos_id, int32_t eos_id)
    : tokenizer_(tokenizer),
      bos_id_(bos_id),
      eos_id_(eos_id),
      bos_text_(tokenizer->IdToToken(bos_id)),
      matcher_(tokenizer->added_tokens()) {}

absl::StatusOr<std::vector<int32_t>> PromptBuilder::Build(const OpenAiRequest& request) const {
  if (request.kind == ApiKind::kChat) return EncodeChat(request.messages);
  if (request.prompt_is_ids) return request.prompt_ids;
  return EncodeCompletion(request.prompt_text);
}

absl::StatusOr<std::vector<PromptBuilder::Piece>> PromptBuilder::RenderPieces(
    const std::vector<ChatMessage>& messages) const {
  std::vector<std::string> strings;
  auto placeholder = [&](std::string s) {
    std::string p = absl::StrCat(kOpen, strings.size(), kClose);
    strings.push_back(std::move(s));
    return p;
  };
  json rendered_input = json::array();
  for (const ChatMessage& m : messages) {
    json jm = {{"role", m.role}};
    if (!m.content.has_value()) {
      jm["content"] = nullptr;
    } else if (m.role == "assistant" && !m.has_tool_calls) {
      // The template drops an assistant message's text up to its last "</think>"; keep that
      // decision with the template by giving it the tag between two placeholders.
      const size_t end = m.content->rfind(std::string(kThinkEnd));
      if (end == std::string::npos) {
        jm["content"] = placeholder(*m.content);
      } else {
        jm["content"] = absl::StrCat(placeholder(m.content->substr(0, end)), kThinkEnd,
                                     placeholder(m.content->substr(end + kThinkEnd.size())));
      }
    } else {
      jm["content"] = placeholder(*m.content);
    }
    if (m.has_tool_calls) {
      json calls = json::array();
      for (const ChatToolCall& c : m.tool_calls) {
        calls.push_back(
            {{"type", c.type},
             {"function",
              {{"name", placeholder(c.name)}, {"arguments", placeholder(c.arguments)}}}});
      }
      jm["tool_calls"] = std::move(calls);
    }
    rendered_input.push_back(std::move(jm));
  }
  tok::ChatTemplateOptions options;
  options.bos_token = bos_text_;
  options.add_generation_prompt = true;
  auto rendered = tok::RenderR1ChatTemplate(rendered_input, options);
  if (!rendered.ok()) return InvalidRequest(rendered.status().message(), "messages");

  std::vector<Piece> pieces;
  absl::string_view rest = *rendered;
  while (!rest.empty()) {
    const size_t open = rest.find(kOpen);
    if (open != 0) {
      pieces.push_back({std::string(rest.substr(0, open)), false});
      if (open == absl::string_view::npos) break;
      rest.remove_prefix(open);
    }
    rest.remove_prefix(kOpen.size());
    const size_t close = rest.find(kClose);
    size_t index = 0;
    if (close == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, close), &index) ||
        index >= strings.size()) {
      return absl::InternalError("chat template: placeholder lost in rendering");
    }
    pieces.push_back({std::move(strings[index]), true});
    rest.remove_prefix(close + kClose.size());
  }
  return pieces;
}

absl::StatusOr<std::string> PromptBuilder::RenderChat(
    const std::vector<ChatMessage>& messages) const {
  ASSIGN_OR_RETURN(std::vector<Piece> pieces, RenderPieces(messages));
  std::string out;
  for (const Piece& p : pieces) out += p.text;
  return out;
}

absl::StatusOr<std::vector<int32_t>> PromptBuilder::EncodeChat(
    const std::vector<ChatMessage>& messages) const {
  ASSIGN_OR_RETURN(std::vector<Piece> pieces, RenderPieces(messages));
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
  for (const Piece& piece : pieces) {
    if (piece.from_client) {
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
