// Finds DeepSeek's tool calls in generated answer text (the `content` after the reasoning split),
// incrementally, and separates them from the text around them.
//
// The formats (DeepSeek-V3 / V3-0324 / R1 / R1-0528, and V3.1), as their chat templates write an
// assistant turn's calls and the models generate them:
//
//   V3, R1:
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```
//            <｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>...<｜tool▁call▁end｜><｜tool▁calls▁end｜>
//   V3.1:    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>
//            <｜tool▁call▁begin｜>...<｜tool▁call▁end｜><｜tool▁calls▁end｜>
//
// Both are recognised without configuration: after `<｜tool▁sep｜>`, arguments that start at once
// with `{` make it V3.1's form (the text before the separator is the name); otherwise the text
// before the separator must be `function` and the name is the next line, followed by the
// arguments in an optional ```json fence. A call is accepted when its name is non-empty without
// white space and its arguments are one JSON object; `arguments` is that JSON text as the model
// wrote it (trimmed), as vLLM's deepseek_v3 / deepseek_v31 parsers return it.
//
// Rules:
//   - Text before `<｜tool▁calls▁begin｜>` is content; so is text after `<｜tool▁calls▁end｜>`.
//     White space between the calls is dropped.
//   - A call is reported whole (name and complete arguments) once its `<｜tool▁call▁end｜>` has
//     arrived, never in pieces.
//   - Malformed output is never lost: a call whose body does not parse (no separator, bad name,
//     arguments not a JSON object), a call cut short by the end of the output or by another call
//     marker, or other text inside the calls section goes to `content` as the raw text the model
//     wrote, markers included (the opening `<｜tool▁calls▁begin｜>` excepted); after stray text
//     inside the section the rest of the output is parsed as ordinary content again.
//   - Only a suffix that could be the start of a marker is held back while streaming; Finish
//     releases it. Feeding any split of a text through Append and Finish gives exactly
//     ParseToolCalls() of the whole text.
//
// One instance per sequence; not thread-safe.
#ifndef R1_COORDINATOR_DETOK_TOOL_CALL_PARSER_H_
#define R1_COORDINATOR_DETOK_TOOL_CALL_PARSER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace r1::detok {

inline constexpr absl::string_view kToolCallsBegin = "<｜tool▁calls▁begin｜>";
inline constexpr absl::string_view kToolCallsEnd = "<｜tool▁calls▁end｜>";
inline constexpr absl::string_view kToolCallBegin = "<｜tool▁call▁begin｜>";
inline constexpr absl::string_view kToolCallEnd = "<｜tool▁call▁end｜>";
inline constexpr absl::string_view kToolSep = "<｜tool▁sep｜>";

// The five markers above (tokens of the DeepSeek tokenizer, flagged special there: a response
// that parses tool calls must decode them as text).
inline constexpr absl::string_view kToolCallMarkers[] = {kToolCallsBegin, kToolCallsEnd,
                                                         kToolCallBegin, kToolCallEnd, kToolSep};

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // a JSON object's text
  bool operator==(const ParsedToolCall& o) const {
    return name == o.name && arguments == o.arguments;
  }
};

struct ToolCallDelta {
  std::string content;
  std::vector<ParsedToolCall> calls;
};

class ToolCallParser {
 public:
  // Appends to *out (does not clear it) what `text` makes certain.
  void Append(absl::string_view text, ToolCallDelta* out);
  // End of the output: flushes held-back text (an unfinished call as raw content).
  void Finish(ToolCallDelta* out);

  // Calls reported so far.
  int calls() const { return calls_; }

 private:
  enum class State { kText, kCalls, kCall };
  void Drain(bool final, ToolCallDelta* out);

  State state_ = State::kText;
  std::string buf_;
  size_t scan_from_ = 0;  // kCall: buf_ before this holds no marker (long calls scan once)
  int calls_ = 0;
};

// The non-streaming rule (see the file comment).
ToolCallDelta ParseToolCalls(absl::string_view text);

// One call's body, the text between `<｜tool▁call▁begin｜>` and `<｜tool▁call▁end｜>`, in either
// format; nullopt when it is malformed.
std::optional<ParsedToolCall> ParseToolCallBody(absl::string_view body);

}  // namespace r1::detok

#endif  // R1_COORDINATOR_DETOK_TOOL_CALL_PARSER_H_
