#include "coordinator/detok/reasoning_parser.h"

#include <algorithm>

namespace r1::detok {
namespace {

constexpr absl::string_view kOpen = "<think>";
constexpr absl::string_view kClose = "</think>";

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t PartialTagSuffix(absl::string_view s, absl::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

void ReasoningParser::Append(absl::string_view text, ReasoningDelta* out) {
  buf_.append(text.data(), text.size());
  Drain(/*final=*/false, out);
}

void ReasoningParser::Finish(ReasoningDelta* out) { Drain(/*final=*/true, out); }

void ReasoningParser::Drain(bool final, ReasoningDelta* out) {
  while (true) {
    switch (state_) {
      case State::kStart: {
        const absl::string_view b(buf_);
        if (b.substr(0, kOpen.size()) == kOpen) {
          buf_.erase(0, kOpen.size());
          state_ = State::kReasoning;
          continue;
        }
        if (!final && kOpen.substr(0, b.size()) == b) return;  // may still become "<think>"
        state_ = starts_in_reasoning_ ? State::kReasoning : State::kContent;
        continue;
      }
      case State::kReasoning: {
        const size_t at = absl::string_view(buf_).find(kClose);
        if (at != absl::string_view::npos) {
          out->reasoning.append(buf_, 0, at);
          buf_.erase(0, at + kClose.size());
          state_ = State::kContent;
          continue;
        }
        const size_t keep = final ? 0 : PartialTagSuffix(buf_, kClose);
        out->reasoning.append(buf_, 0, buf_.size() - keep);
        buf_.erase(0, buf_.size() - keep);
        return;
      }
      case State::kContent:
        out->content += buf_;
        buf_.clear();
        return;
    }
  }
}

ReasoningDelta SplitReasoning(absl::string_view text, bool starts_in_reasoning) {
  ReasoningDelta out;
  const bool opened = text.substr(0, kOpen.size()) == kOpen;
  if (opened) text.remove_prefix(kOpen.size());
  if (!opened && !starts_in_reasoning) {
    out.content = std::string(text);
    return out;
  }
  const size_t at = text.find(kClose);
  if (at == absl::string_view::npos) {
    out.reasoning = std::string(text);
  } else {
    out.reasoning = std::string(text.substr(0, at));
    out.content = std::string(text.substr(at + kClose.size()));
  }
  return out;
}

}  // namespace r1::detok
