// OutputTracker: one sequence's generated token ids -> response text deltas (detok::OutputStream
// fed one id at a time) and the usage counts.
//
// Counting: completion_tokens counts the ids the generator produced for this output, the EOS /
// stop token that ended it included (it was generated and cost a step; vLLM counts it too); ids
// the generator sent after the output had ended (a stop string matched, or after a stop token)
// are not consumed and not counted. reasoning_tokens counts the consumed ids before the first one
// whose text reached `content` or completed a tool call (the "</think>" token included); an output
// that never leaves the reasoning counts all its ids. Text held back by the stop-string matcher or
// the reasoning parser is attributed to the id that releases it, so reasoning_tokens can run a few
// ids long when stop strings are set.
//
// One instance per sequence, used by one thread. The tokenizer is borrowed and must outlive
// *this.
#ifndef R1_COORDINATOR_API_OUTPUT_TRACKER_H_
#define R1_COORDINATOR_API_OUTPUT_TRACKER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/core/generator.h"
#include "coordinator/detok/output_stream.h"

namespace r1::api {

class OutputTracker {
 public:
  OutputTracker(const tok::Tokenizer* tokenizer, detok::OutputOptions options);

  // Consumes `ids` until the output ends and appends the new text to *delta; *consumed (nullable)
  // gets how many of `ids` were consumed. Errors: an id the tokenizer cannot decode (the ids
  // before it are consumed).
  absl::Status Append(absl::Span<const int32_t> ids, detok::OutputDelta* delta,
                      size_t* consumed = nullptr);
  // The generator ended the sequence (length, error): flushes held-back text. No-op once the
  // output stopped.
  void Finish(detok::OutputDelta* delta);

  // The output ended on a stop token or a stop string (later ids are ignored).
  bool stopped() const { return stopped_; }
  int64_t completion_tokens() const { return completion_tokens_; }
  int64_t reasoning_tokens() const {
    return content_seen_ ? reasoning_tokens_ : completion_tokens_;
  }
  // Tool calls parsed so far (options.parse_tool_calls).
  int tool_calls() const { return tool_calls_; }

 private:
  detok::OutputStream stream_;
  int64_t completion_tokens_ = 0;
  int64_t reasoning_tokens_ = 0;
  bool content_seen_ = false;
  bool stopped_ = false;
  int tool_calls_ = 0;
};

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_OUTPUT_TRACKER_H_
