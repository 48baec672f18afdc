// Token log-probabilities (TokenLogprob, coordinator/core/generator.h) in OpenAI's two formats:
//
//   chat         choices[i].logprobs = {"content": [{"token", "logprob", "bytes",
//                "top_logprobs": [{"token", "logprob", "bytes"}, ...]}, ...]}
//   completions  choices[i].logprobs = {"tokens": [...], "token_logprobs": [...],
//                "top_logprobs": [{token: logprob, ...}, ...], "text_offset": [...]}
//
// A token's text is the tokenizer's decode of its id alone (bytes that are not valid UTF-8 on
// their own become U+FFFD); `bytes` are the token's raw bytes. Ids the tokenizer does not know
// (padding rows of the vocabulary) have the text "" and no bytes. A log-probability that is not
// finite (a token of probability 0) is reported as -9999.0, as OpenAI does.
//
// Completions' top_logprobs hold the requested number of alternatives plus the sampled token (so
// up to logprobs + 1 entries, as OpenAI's legacy API); a text that two ids share keeps the first
// (most likely). text_offset counts Unicode code points of the token texts before each token,
// from the start of the choice's text.
//
// Stateless functions and a value type; the tokenizer is borrowed for the call. Thread-compatible.
#ifndef R1_COORDINATOR_HTTP_LOGPROBS_JSON_H_
#define R1_COORDINATOR_HTTP_LOGPROBS_JSON_H_

#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/core/generator.h"
#include "nlohmann/json.hpp"

namespace r1::http {

// The text OpenAI shows for one token id.
std::string TokenText(const tok::Tokenizer& tokenizer, int32_t id);

// Chat: the entries of logprobs.content for `ids` (each with its `lps` entry; the spans have the
// same length), with at most `top` alternatives each.
nlohmann::json ChatLogprobEntries(const tok::Tokenizer& tokenizer, absl::Span<const int32_t> ids,
                                  absl::Span<const TokenLogprob> lps, int top);

// Completions: builds the logprobs object of one choice as its tokens arrive. For a stream, Take()
// returns the object for the tokens since the last Take(); text_offset continues across chunks.
class CompletionLogprobs {
 public:
  explicit CompletionLogprobs(int top);

  void Append(const tok::Tokenizer& tokenizer, absl::Span<const int32_t> ids,
              absl::Span<const TokenLogprob> lps);
  bool empty() const { return tokens_.empty(); }
  // The object for the tokens appended so far (since the last Take()).
  nlohmann::json Json() const;
  // Json(), then forgets those tokens (text_offset keeps counting).
  nlohmann::json Take();

 private:
  int top_;
  int64_t offset_ = 0;  // code points of the token texts so far
  nlohmann::json tokens_ = nlohmann::json::array();
  nlohmann::json token_logprobs_ = nlohmann::json::array();
  nlohmann::json top_logprobs_ = nlohmann::json::array();
  nlohmann::json text_offset_ = nlohmann::json::array();
};

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_LOGPROBS_JSON_H_
