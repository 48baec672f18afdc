#include "coordinator/detok/tool_call_parser.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace r1::detok {
namespace {

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t PartialTagSuffix(absl::string_view s, absl::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

size_t Find(const std::string& s, absl::string_view tag, size_t from = 0) {
  return absl::string_view(s).find(tag, from);
}

// The longest marker: a marker starting this far before the end of a scanned buffer was found.
constexpr size_t kMaxMarkerBytes =
    std::max({kToolCallsBegin.size(), kToolCallsEnd.size(), kToolCallBegin.size(),
              kToolCallEnd.size(), kToolSep.size()});

// `s` is a proper prefix of `tag`.
bool IsPartialTag(absl::string_view s, absl::string_view tag) {
  return s.size() < tag.size() && tag.substr(0, s.size()) == s;
}

// Arguments in an optional code fence ("```json\n...\n```" or "```\n...\n```").
absl::string_view StripFence(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (!absl::ConsumePrefix(&s, "```")) return s;
  absl::ConsumePrefix(&s, "json");
  absl::ConsumeSuffix(&s, "```");
  return absl::StripAsciiWhitespace(s);
}

bool ValidName(absl::string_view name) {
  if (name.empty()) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isspace(static_cast<unsigned char>(c)) ||
           static_cast<unsigned char>(c) < 0x20;
  });
}

// One JSON object (nlohmann's acceptor parses without recursion, so nesting cannot exhaust the
// stack).
bool IsJsonObject(absl::string_view s) {
  return !s.empty() && s.front() == '{' && nlohmann::json::accept(s.begin(), s.end());
}

}  // namespace

std::optional<ParsedToolCall> ParseToolCallBody(absl::string_view body) {
  const size_t sep = body.find(kToolSep);
  if (sep == absl::string_view::npos) return std::nullopt;
  const absl::string_view head = absl::StripAsciiWhitespace(body.substr(0, sep));
  const absl::string_view rest = body.substr(sep + kToolSep.size());
  const absl::string_view rest_trimmed = absl::StripLeadingAsciiWhitespace(rest);
  ParsedToolCall call;
  absl::string_view args;
  if (!rest_trimmed.empty() && rest_trimmed.front() == '{') {
    // V3.1: NAME<｜tool▁sep｜>ARGS
    call.name = std::string(head);
    args = absl::StripAsciiWhitespace(rest_trimmed);
  } else {
    // V3 / R1: function<｜tool▁sep｜>NAME\n```json\nARGS\n```
    if (head != "function") return std::nullopt;
    size_t name_end = std::min(rest.find('\n'), rest.find("```"));
    if (name_end == absl::string_view::npos) return std::nullopt;
    call.name = std::string(absl::StripAsciiWhitespace(rest.substr(0, name_end)));
    args = StripFence(rest.substr(name_end));
  }
  if (!ValidName(call.name) || !IsJsonObject(args)) return std::nullopt;
  call.arguments = std::string(args);
  return call;
}

void ToolCallParser::Append(absl::string_view text, ToolCallDelta* out) {
  buf_.append(text.data(), text.size());
  Drain(/*final=*/false, out);
}

void ToolCallParser::Finish(ToolCallDelta* out) { Drain(/*final=*/true, out); }

void ToolCallParser::Drain(bool final, ToolCallDelta* out) {
  while (true) {
    switch (state_) {
      case State::kText: {
        const size_t at = Find(buf_, kToolCallsBegin);
        if (at != absl::string_view::npos) {
          out->content.append(buf_, 0, at);
          buf_.erase(0, at + kToolCallsBegin.size());
          state_ = State::kCalls;
          continue;
        }
        const size_t keep = final ? 0 : PartialTagSuffix(buf_, kToolCallsBegin);
        out->content.append(buf_, 0, buf_.size() - keep);
        buf_.erase(0, buf_.size() - keep);
        return;
      }
      case State::kCalls: {
        const absl::string_view rest = absl::StripLeadingAsciiWhitespace(buf_);
        if (absl::StartsWith(rest, kToolCallBegin)) {
          buf_.erase(0, buf_.size() - rest.size() + kToolCallBegin.size());
          state_ = State::kCall;
          continue;
        }
        if (absl::StartsWith(rest, kToolCallsEnd)) {
          buf_.erase(0, buf_.size() - rest.size() + kToolCallsEnd.size());
          state_ = State::kText;
          continue;
        }
        if (rest.empty() ||
            (!final && (IsPartialTag(rest, kToolCallBegin) || IsPartialTag(rest, kToolCallsEnd)))) {
          if (final) buf_.clear();  // white space after the last call
          return;
        }
        // Stray text inside the calls section: from here on it is all content.
        state_ = State::kText;
        continue;
      }
      case State::kCall: {
        // The call ends at its end marker; another call marker first cuts it short.
        // Only the bytes after what earlier calls scanned can hold a new marker.
        const size_t end = Find(buf_, kToolCallEnd, scan_from_);
        const size_t cut =
            std::min(Find(buf_, kToolCallBegin, scan_from_), Find(buf_, kToolCallsEnd, scan_from_));
        if (end != absl::string_view::npos && end < cut) {
          const absl::string_view body(buf_.data(), end);
          if (std::optional<ParsedToolCall> call = ParseToolCallBody(body)) {
            out->calls.push_back(*std::move(call));
            ++calls_;
          } else {
            absl::StrAppend(&out->content, kToolCallBegin, body, kToolCallEnd);
          }
          buf_.erase(0, end + kToolCallEnd.size());
          scan_from_ = 0;
          state_ = State::kCalls;
          continue;
        }
        if (cut != absl::string_view::npos) {
          absl::StrAppend(&out->content, kToolCallBegin, absl::string_view(buf_.data(), cut));
          buf_.erase(0, cut);
          scan_from_ = 0;
          state_ = State::kCalls;
          continue;
        }
        if (final) {
          absl::StrAppend(&out->content, kToolCallBegin, buf_);
          buf_.clear();
          scan_from_ = 0;
          state_ = State::kText;
          return;
        }
        scan_from_ = buf_.size() > kMaxMarkerBytes ? buf_.size() - kMaxMarkerBytes : 0;
        return;
      }
    }
  }
}

ToolCallDelta ParseToolCalls(absl::string_view text) {
  ToolCallParser parser;
  ToolCallDelta out;
  parser.Append(text, &out);
  parser.Finish(&out);
  return out;
}

}  // namespace r1::detok
