#include "coordinator/http/logprobs_json.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace r1::http {
namespace {

using json = nlohmann::json;

double LogprobValue(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

json Bytes(const tok::Tokenizer& tokenizer, int32_t id) {
  json out = json::array();
  for (char c : tokenizer.TokenBytes(id)) out.push_back(static_cast<unsigned char>(c));
  return out;
}

// Code points of valid UTF-8 text (every byte that does not continue a sequence).
int64_t CodePoints(const std::string& text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

json TokenJson(const tok::Tokenizer& tokenizer, int32_t id, float lp) {
  return {{"token", TokenText(tokenizer, id)},
          {"logprob", LogprobValue(lp)},
          {"bytes", Bytes(tokenizer, id)}};
}

}  // namespace

std::string TokenText(const tok::Tokenizer& tokenizer, int32_t id) {
  if (!tokenizer.IsValidId(id)) return "";
  const int32_t ids[] = {id};
  absl::StatusOr<std::string> text = tokenizer.Decode(ids);
  return text.ok() ? *std::move(text) : "";
}

json ChatLogprobEntries(const tok::Tokenizer& tokenizer, absl::Span<const int32_t> ids,
                        absl::Span<const TokenLogprob> lps, int top) {
  json out = json::array();
  const size_t n = std::min(ids.size(), lps.size());
  for (size_t i = 0; i < n; ++i) {
    json entry = TokenJson(tokenizer, ids[i], lps[i].logprob);
    json alternatives = json::array();
    const size_t k = std::min(lps[i].top.size(), static_cast<size_t>(std::max(top, 0)));
    for (size_t j = 0; j < k; ++j) {
      alternatives.push_back(TokenJson(tokenizer, lps[i].top[j].first, lps[i].top[j].second));
    }
    entry["top_logprobs"] = std::move(alternatives);
    out.push_back(std::move(entry));
  }
  return out;
}

CompletionLogprobs::CompletionLogprobs(int top) : top_(std::max(top, 0)) {}

void CompletionLogprobs::Append(const tok::Tokenizer& tokenizer, absl::Span<const int32_t> ids,
                                absl::Span<const TokenLogprob> lps) {
  const size_t n = std::min(ids.size(), lps.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string text = TokenText(tokenizer, ids[i]);
    json top = json::object();
    const size_t k = std::min(lps[i].top.size(), static_cast<size_t>(top_));
    for (size_t j = 0; j < k; ++j) {
      const std::string alt = TokenText(tokenizer, lps[i].top[j].first);
      if (!top.contains(alt)) top[alt] = LogprobValue(lps[i].top[j].second);
    }
    if (!top.contains(text)) top[text] = LogprobValue(lps[i].logprob);
    tokens_.push_back(text);
    token_logprobs_.push_back(LogprobValue(lps[i].logprob));
    top_logprobs_.push_back(std::move(top));
    text_offset_.push_back(offset_);
    offset_ += CodePoints(text);
  }
}

json CompletionLogprobs::Json() const {
  return {{"tokens", tokens_},
          {"token_logprobs", token_logprobs_},
          {"top_logprobs", top_logprobs_},
          {"text_offset", text_offset_}};
}

json CompletionLogprobs::Take() {
  json out = Json();
  tokens_ = json::array();
  token_logprobs_ = json::array();
  top_logprobs_ = json::array();
  text_offset_ = json::array();
  return out;
}

}  // namespace r1::http
