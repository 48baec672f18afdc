#include "coordinator/detok/output_stream.h"

#include <utility>

#include "common/status_macros.h"

namespace r1::detok {

OutputStream::OutputStream(const tok::Tokenizer* tokenizer, OutputOptions options)
    : options_(std::move(options)),
      detok_(tokenizer, options_.skip_ids),
      stops_(options_.stop_strings),
      reasoning_(options_.starts_in_reasoning) {}

void OutputStream::RouteContent(absl::string_view content, bool final, OutputDelta* delta) {
  if (!options_.parse_tool_calls) {
    delta->content.append(content.data(), content.size());
    return;
  }
  ToolCallDelta t;
  tools_.Append(content, &t);
  if (final) tools_.Finish(&t);
  delta->content += t.content;
  for (ParsedToolCall& c : t.calls) delta->tool_calls.push_back(std::move(c));
}

void OutputStream::Route(absl::string_view text, OutputDelta* delta) {
  if (options_.parse_reasoning) {
    ReasoningDelta r;
    reasoning_.Append(text, &r);
    delta->reasoning += r.reasoning;
    RouteContent(r.content, /*final=*/false, delta);
  } else {
    RouteContent(text, /*final=*/false, delta);
  }
}

void OutputStream::Close(OutputDelta* delta) {
  finished_ = true;
  delta->finished = true;
  ReasoningDelta r;
  if (options_.parse_reasoning) reasoning_.Finish(&r);
  delta->reasoning += r.reasoning;
  RouteContent(r.content, /*final=*/true, delta);
}

absl::Status OutputStream::Append(absl::Span<const int32_t> ids, OutputDelta* delta) {
  std::string text, emit;
  for (size_t i = 0; i < ids.size() && !finished_; ++i) {
    if (options_.stop_token_ids.contains(ids[i])) {
      delta->reason = FinishReason::kStopToken;
      delta->stop_token = ids[i];
      Finish(delta);
      break;
    }
    text.clear();
    emit.clear();
    RETURN_IF_ERROR(detok_.Append(ids.subspan(i, 1), &text));
    const bool stopped = stops_.Append(text, &emit);
    Route(emit, delta);
    if (stopped) {
      delta->reason = FinishReason::kStopString;
      delta->matched_stop = stops_.matched();
      Close(delta);
    }
  }
  return absl::OkStatus();
}

void OutputStream::Finish(OutputDelta* delta) {
  if (finished_) return;
  std::string text, emit;
  detok_.Finish(&text);
  const bool stopped = stops_.Append(text, &emit);
  if (stopped) {
    delta->reason = FinishReason::kStopString;
    delta->matched_stop = stops_.matched();
  } else {
    stops_.Finish(&emit);
  }
  Route(emit, delta);
  Close(delta);
}

absl::StatusOr<OutputDelta> DecodeComplete(const tok::Tokenizer& tokenizer,
                                           absl::Span<const int32_t> ids,
                                           const OutputOptions& options) {
  OutputDelta out;
  std::vector<int32_t> kept;
  for (int32_t id : ids) {
    if (options.stop_token_ids.contains(id)) {
      out.reason = FinishReason::kStopToken;
      out.stop_token = id;
      break;
    }
    if (!options.skip_ids.contains(id)) kept.push_back(id);
  }
  ASSIGN_OR_RETURN(std::string text, tokenizer.Decode(kept));
  std::optional<std::string> matched;
  const size_t cut = TruncateAtStop(text, options.stop_strings, &matched);
  if (matched.has_value()) {
    text.resize(cut);
    out.reason = FinishReason::kStopString;
    out.matched_stop = std::move(matched);
    out.stop_token = -1;
  }
  if (options.parse_reasoning) {
    ReasoningDelta r = SplitReasoning(text, options.starts_in_reasoning);
    out.reasoning = std::move(r.reasoning);
    out.content = std::move(r.content);
  } else {
    out.content = std::move(text);
  }
  if (options.parse_tool_calls) {
    ToolCallDelta t = ParseToolCalls(out.content);
    out.content = std::move(t.content);
    out.tool_calls = std::move(t.calls);
  }
  out.finished = true;
  return out;
}

}  // namespace r1::detok
