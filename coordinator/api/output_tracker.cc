#include "coordinator/api/output_tracker.h"

#include <utility>

#include "common/status_macros.h"

namespace r1::api {

OutputTracker::OutputTracker(const tok::Tokenizer* tokenizer, detok::OutputOptions options)
    : stream_(tokenizer, std::move(options)) {}

absl::Status OutputTracker::Append(absl::Span<const int32_t> ids, detok::OutputDelta* delta,
                                   size_t* consumed) {
  size_t i = 0;
  if (consumed != nullptr) *consumed = 0;
  for (; i < ids.size() && !stream_.finished(); ++i) {
    const size_t before = delta->content.size();
    const size_t calls_before = delta->tool_calls.size();
    RETURN_IF_ERROR(stream_.Append(ids.subspan(i, 1), delta));
    ++completion_tokens_;
    tool_calls_ += static_cast<int>(delta->tool_calls.size() - calls_before);
    if (consumed != nullptr) *consumed = i + 1;
    if (!content_seen_) {
      if (delta->content.size() > before || delta->tool_calls.size() > calls_before) {
        content_seen_ = true;
      } else {
        ++reasoning_tokens_;
      }
    }
    if (stream_.finished()) stopped_ = true;
  }
  return absl::OkStatus();
}

void OutputTracker::Finish(detok::OutputDelta* delta) {
  if (stream_.finished()) return;
  const size_t calls_before = delta->tool_calls.size();
  stream_.Finish(delta);
  tool_calls_ += static_cast<int>(delta->tool_calls.size() - calls_before);
}

}  // namespace r1::api
