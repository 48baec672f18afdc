// libFuzzer target for the OpenAI request path without sockets: the bytes as the body of
// POST /v1/chat/completions and of POST /v1/completions, through what a generation job does
// before it submits — ParseOpenAiRequest (nesting bound, JSON, ParseOpenAiRequestJson),
// PromptBuilder::Build with the r1-tiny tokenizer, and MakeGenerationRequest for a long and a
// short context. Properties:
//   - never a crash, hang or sanitizer report; every refusal is an OpenAI 4xx error object
//     (ApiErrorFromStatus), never a 5xx;
//   - an accepted request is within the documented ranges (model, temperature, top_p, top_k,
//     max_tokens, stop, stop_token_ids, stream_options only with stream, a prompt, n, penalties,
//     logit_bias, logprobs / top_logprobs, tools);
//   - chat: the prompt ids decode to exactly PromptBuilder::RenderChat's text, and when no client
//     string (messages, chat_template_kwargs) holds a special-token string, they equal
//     Encode(rendered text) with every added token matched (prompt_builder.h's promise);
//     completions: the ids decode to BOS + the prompt (one BOS when the prompt starts with it), and
//     token-id prompts are kept as given;
//   - a GenerationRequest fits the context (prompt + max_new_tokens <= max_model_len,
//     max_new_tokens >= 1) and stops on EOS.
// Run: scripts/fuzz.sh (FUZZ_TARGETS=openai_request_fuzzer).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/tokenizer/fuzz/fuzz_support.h"
#include "coordinator/api/prompt_builder.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/request_parser.h"

namespace {

using json = nlohmann::json;
using namespace r1::api;   // NOLINT: a fuzz target's own file
using namespace r1::http;  // NOLINT

constexpr char kModel[] = "r1-tiny";
constexpr char kEos[] = "<｜end▁of▁sentence｜>";

const PromptBuilder& Prompts() {
  static const PromptBuilder* const prompts = [] {
    auto p = PromptBuilder::Create(&r1::fuzz::TinyTokenizer(), kEos);
    R1_FUZZ_CHECK(p.ok());
    return p->release();
  }();
  return *prompts;
}

void CheckClientError(const absl::Status& s) {
  R1_FUZZ_CHECK(!s.ok());
  const ApiError e = ApiErrorFromStatus(s);
  R1_FUZZ_CHECK(e.http_status >= 400 && e.http_status < 500);
  R1_FUZZ_CHECK(!e.message.empty());
  R1_FUZZ_CHECK(json::parse(e.Json(), nullptr, false).is_object());
}

bool HasSpecialString(const std::string& s) {
  for (const auto& a : r1::fuzz::TinyTokenizer().added_tokens()) {
    if (a.special && absl::StrContains(s, a.content)) return true;
  }
  return false;
}

bool ClientTextHasSpecialStrings(const OpenAiRequest& r) {
  for (const ChatMessage& m : r.messages) {
    if (m.content.has_value() && HasSpecialString(*m.content)) return true;
    for (const ChatToolCall& c : m.tool_calls) {
      if (HasSpecialString(c.name) || HasSpecialString(c.arguments) || HasSpecialString(c.id)) {
        return true;
      }
    }
    if (HasSpecialString(m.tool_call_id)) return true;
  }
  for (const ChatTool& t : r.tools) {
    if (HasSpecialString(t.name) || HasSpecialString(t.description.value_or("")) ||
        HasSpecialString(t.parameters_json)) {
      return true;
    }
  }
  // chat_template_kwargs are client text too (a kwarg may replace bos_token).
  return HasSpecialString(r.chat_template_kwargs);
}

void CheckAccepted(const OpenAiRequest& r, ApiKind kind, int64_t vocab) {
  R1_FUZZ_CHECK(r.kind == kind);
  R1_FUZZ_CHECK(r.model == kModel);
  R1_FUZZ_CHECK(r.temperature >= 0.0 && r.temperature <= 2.0);
  R1_FUZZ_CHECK(r.top_p > 0.0 && r.top_p <= 1.0);
  R1_FUZZ_CHECK(r.top_k >= 0);
  R1_FUZZ_CHECK(!r.max_tokens.has_value() || (*r.max_tokens > 0 && *r.max_tokens <= INT32_MAX));
  R1_FUZZ_CHECK(r.stop.size() <= kMaxStopStrings);
  for (const std::string& s : r.stop) R1_FUZZ_CHECK(!s.empty() && s.size() <= kMaxStopStringBytes);
  R1_FUZZ_CHECK(r.stop_token_ids.size() <= kMaxStopTokenIds);
  for (int32_t id : r.stop_token_ids) R1_FUZZ_CHECK(id >= 0 && id < vocab);
  R1_FUZZ_CHECK(r.stream || !r.include_usage);
  R1_FUZZ_CHECK(r.n >= 1 && r.n <= kMaxSamples);
  R1_FUZZ_CHECK(r.presence_penalty >= -2.0 && r.presence_penalty <= 2.0);
  R1_FUZZ_CHECK(r.frequency_penalty >= -2.0 && r.frequency_penalty <= 2.0);
  R1_FUZZ_CHECK(r.repetition_penalty > 0.0 && r.repetition_penalty <= 2.0);
  R1_FUZZ_CHECK(r.logit_bias.size() <= kMaxLogitBias);
  for (const auto& [id, bias] : r.logit_bias) {
    R1_FUZZ_CHECK(id >= 0 && id < vocab && bias >= -100.0 && bias <= 100.0);
  }
  R1_FUZZ_CHECK(r.top_logprobs >= 0 &&
                r.top_logprobs <=
                    (kind == ApiKind::kChat ? kMaxChatTopLogprobs : kMaxCompletionTopLogprobs));
  R1_FUZZ_CHECK(r.logprobs || r.top_logprobs == 0);
  R1_FUZZ_CHECK(r.tools.size() <= kMaxTools);
  R1_FUZZ_CHECK(r.tools.empty() || kind == ApiKind::kChat);
  for (const ChatTool& t : r.tools) {
    R1_FUZZ_CHECK(!t.name.empty() && t.name.size() <= kMaxToolNameBytes);
  }
  if (kind == ApiKind::kChat) {
    R1_FUZZ_CHECK(!r.messages.empty());
    for (const ChatMessage& m : r.messages) {
      R1_FUZZ_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant" ||
                    m.role == "tool");
      R1_FUZZ_CHECK(m.content.has_value() || m.has_tool_calls);
      R1_FUZZ_CHECK(m.tool_calls.empty() || m.has_tool_calls);
    }
  } else if (r.prompt_is_ids) {
    R1_FUZZ_CHECK(!r.prompt_ids.empty());
    for (int32_t id : r.prompt_ids) R1_FUZZ_CHECK(id >= 0 && id < vocab);
  }
}

void CheckPrompt(const OpenAiRequest& r, const std::vector<int32_t>& ids) {
  const auto& tok = r1::fuzz::TinyTokenizer();
  const PromptBuilder& prompts = Prompts();
  if (r.kind == ApiKind::kCompletion && r.prompt_is_ids) {
    R1_FUZZ_CHECK(ids == r.prompt_ids);
    return;
  }
  auto text = tok.Decode(ids);
  R1_FUZZ_CHECK(text.ok());
  if (r.kind == ApiKind::kCompletion) {
    const std::string bos(tok.TokenBytes(prompts.bos_id()));
    R1_FUZZ_CHECK(!ids.empty() && ids[0] == prompts.bos_id());
    const std::string want =
        absl::StartsWith(r.prompt_text, bos) ? r.prompt_text : bos + r.prompt_text;
    R1_FUZZ_CHECK(*text == want);
    return;
  }
  auto rendered = prompts.RenderChat(r);
  R1_FUZZ_CHECK(rendered.ok());
  R1_FUZZ_CHECK(*text == *rendered);
  if (!ClientTextHasSpecialStrings(r)) {
    auto plain = tok.Encode(*rendered);
    R1_FUZZ_CHECK(plain.ok() && *plain == ids);
  }
}

void CheckGeneration(const OpenAiRequest& r, const std::vector<int32_t>& ids, int64_t vocab) {
  for (int64_t max_model_len : {int64_t{4096}, int64_t{64}}) {
    const r1::ServedModel model{kModel, max_model_len, vocab, 0};
    auto g =
        MakeGenerationRequest(r, ids, model, "fuzz", absl::InfiniteFuture(), {Prompts().eos_id()});
    if (!g.ok()) {
      CheckClientError(g.status());
      continue;
    }
    const int64_t n = static_cast<int64_t>(g->prompt_token_ids.size());
    R1_FUZZ_CHECK(n > 0 && g->prompt_token_ids == ids);
    R1_FUZZ_CHECK(g->max_new_tokens >= 1 && n + g->max_new_tokens <= max_model_len);
    R1_FUZZ_CHECK(!r.max_tokens.has_value() || g->max_new_tokens == *r.max_tokens);
    R1_FUZZ_CHECK(!g->stop_token_ids.empty() && g->stop_token_ids[0] == Prompts().eos_id());
    for (int32_t id : r.stop_token_ids) {
      R1_FUZZ_CHECK(std::count(g->stop_token_ids.begin(), g->stop_token_ids.end(), id) == 1);
    }
    R1_FUZZ_CHECK(g->logit_bias.size() == r.logit_bias.size());
    R1_FUZZ_CHECK(g->logprobs == r.logprobs && g->top_logprobs == r.top_logprobs);
  }
}

void Run(ApiKind kind, absl::string_view body) {
  const int64_t vocab = r1::fuzz::TinyTokenizer().id_limit();
  const RequestLimits limits{kModel, vocab};
  absl::StatusOr<OpenAiRequest> r = ParseOpenAiRequest(kind, body, limits);
  if (!r.ok()) return CheckClientError(r.status());
  CheckAccepted(*r, kind, vocab);
  absl::StatusOr<std::vector<int32_t>> ids = Prompts().Build(*r);
  if (!ids.ok()) return CheckClientError(ids.status());
  CheckPrompt(*r, *ids);
  CheckGeneration(*r, *ids, vocab);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  Run(ApiKind::kChat, body);
  Run(ApiKind::kCompletion, body);
  return 0;
}
