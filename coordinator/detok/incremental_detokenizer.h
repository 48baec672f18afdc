// Turns a stream of generated token ids into text deltas for streaming responses. Never emits a
// partial UTF-8 sequence: bytes of a character split across tokens are held until the character
// is complete. Bytes that can never become valid UTF-8 are replaced by U+FFFD exactly as the
// non-streaming Tokenizer::Decode does, so the concatenation of all deltas (Finish included)
// always equals Tokenizer::Decode of all ids (after dropping `skip_ids`).
//
// One instance per sequence; not thread-safe (one stream is fed by one thread). The tokenizer is
// borrowed and must outlive *this.
#ifndef R1_COORDINATOR_DETOK_INCREMENTAL_DETOKENIZER_H_
#define R1_COORDINATOR_DETOK_INCREMENTAL_DETOKENIZER_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/tokenizer/tokenizer.h"

namespace r1::detok {

class IncrementalDetokenizer {
 public:
  // `skip_ids`: ids that produce no text (e.g. special tokens other than <think>/</think>).
  explicit IncrementalDetokenizer(const tok::Tokenizer* tokenizer,
                                  absl::flat_hash_set<int32_t> skip_ids = {});

  // Appends the text that `ids` complete to *text. Unknown ids are an error (nothing appended
  // for that id or later ones).
  absl::Status Append(absl::Span<const int32_t> ids, std::string* text);
  // Ends the stream: flushes held bytes (an incomplete sequence becomes U+FFFD).
  void Finish(std::string* text);

  // Bytes held back, waiting for the rest of a character (at most 3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const tok::Tokenizer* tokenizer_;
  absl::flat_hash_set<int32_t> skip_ids_;
  std::string pending_;
};

// The ids of `tokenizer`'s special added tokens except <think> and </think> (which R1 clients
// expect to see or which the reasoning parser needs): a good `skip_ids` for responses.
absl::flat_hash_set<int32_t> SpecialIdsExceptThink(const tok::Tokenizer& tokenizer);

}  // namespace r1::detok

#endif  // R1_COORDINATOR_DETOK_INCREMENTAL_DETOKENIZER_H_
