// One generated sequence's path from token ids to response text, for streaming and for complete
// responses: IncrementalDetokenizer -> StopStringMatcher -> ReasoningParser -> ToolCallParser
// (on the content, when asked for).
//
// Stop strings apply to the whole generated text (reasoning included), as in vLLM; a stop token
// id (EOS) ends the output without adding text. DecodeComplete() is the non-streaming path and
// gives exactly the concatenation of every delta an OutputStream produces for the same ids, in
// any split.
//
// One instance per sequence; not thread-safe. The tokenizer is borrowed and must outlive *this.
#ifndef R1_COORDINATOR_DETOK_OUTPUT_STREAM_H_
#define R1_COORDINATOR_DETOK_OUTPUT_STREAM_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/detok/incremental_detokenizer.h"
#include "coordinator/detok/reasoning_parser.h"
#include "coordinator/detok/stop_strings.h"
#include "coordinator/detok/tool_call_parser.h"

namespace r1::detok {

struct OutputOptions {
  // The prompt ended inside "<think>" (R1's template with add_generation_prompt): generated text
  // starts as reasoning.
  bool starts_in_reasoning = true;
  // Split reasoning from content; when false everything is content.
  bool parse_reasoning = true;
  // Take DeepSeek tool calls out of the content (tool_call_parser.h). The tool-call markers must
  // then be decoded as text (not in skip_ids).
  bool parse_tool_calls = false;
  std::vector<std::string> stop_strings;
  // Ids that end the output (not decoded), e.g. EOS.
  absl::flat_hash_set<int32_t> stop_token_ids;
  // Ids decoded to nothing, e.g. SpecialIdsExceptThink().
  absl::flat_hash_set<int32_t> skip_ids;
};

enum class FinishReason { kNone, kStopToken, kStopString };

struct OutputDelta {
  std::string reasoning;
  std::string content;
  std::vector<ParsedToolCall> tool_calls;  // with parse_tool_calls, in order
  bool finished = false;
  FinishReason reason = FinishReason::kNone;
  std::optional<std::string> matched_stop;  // for kStopString
  int32_t stop_token = -1;                  // for kStopToken
};

class OutputStream {
 public:
  OutputStream(const tok::Tokenizer* tokenizer, OutputOptions options);

  // Consumes `ids` (ids after a stop are ignored) and appends the new text to *delta.
  absl::Status Append(absl::Span<const int32_t> ids, OutputDelta* delta);
  // End of generation for another reason (length, cancel): flushes held-back text.
  void Finish(OutputDelta* delta);

  bool finished() const { return finished_; }

 private:
  void Route(absl::string_view text, OutputDelta* delta);
  // Content through the tool-call parser (when enabled) into *delta.
  void RouteContent(absl::string_view content, bool final, OutputDelta* delta);
  void Close(OutputDelta* delta);

  OutputOptions options_;
  IncrementalDetokenizer detok_;
  StopStringMatcher stops_;
  ReasoningParser reasoning_;
  ToolCallParser tools_;
  bool finished_ = false;
};

// The non-streaming path: the same result as one OutputStream fed all `ids` and finished.
absl::StatusOr<OutputDelta> DecodeComplete(const tok::Tokenizer& tokenizer,
                                           absl::Span<const int32_t> ids,
                                           const OutputOptions& options);

}  // namespace r1::detok

#endif  // R1_COORDINATOR_DETOK_OUTPUT_STREAM_H_
