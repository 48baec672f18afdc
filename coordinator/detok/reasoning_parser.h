// Splits R1's generated text into reasoning_content and content at "</think>", incrementally.
//
// R1's chat template ends the prompt with "<think>\n", so generation starts inside the reasoning
// (`starts_in_reasoning` = true): everything up to the first "</think>" is reasoning, everything
// after it (the "\n\n" R1 writes first included) is content; later "</think>"s are content. A
// "<think>" at the very start of the output is dropped; without `starts_in_reasoning` such a
// leading "<think>" is what opens the reasoning, and an output not starting with it is all
// content. No "</think>" at all: everything is reasoning.
//
// The parser works on text, so "</think>" is found whether it arrived as one added token or as
// pieces of several tokens. It holds back only a suffix that could be the start of the tag.
// SplitReasoning() is the same rule applied to a complete text; feeding any split of a text
// through Append and Finish produces exactly its result.
//
// One instance per sequence; not thread-safe.
#ifndef R1_COORDINATOR_DETOK_REASONING_PARSER_H_
#define R1_COORDINATOR_DETOK_REASONING_PARSER_H_

#include <string>

#include "absl/strings/string_view.h"

namespace r1::detok {

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningParser {
 public:
  explicit ReasoningParser(bool starts_in_reasoning) : starts_in_reasoning_(starts_in_reasoning) {}

  // Appends to *out (does not clear it) what `text` makes certain.
  void Append(absl::string_view text, ReasoningDelta* out);
  // Flushes held-back text at the end of the output.
  void Finish(ReasoningDelta* out);

  bool in_reasoning() const { return state_ == State::kReasoning; }

 private:
  enum class State { kStart, kReasoning, kContent };
  void Drain(bool final, ReasoningDelta* out);

  bool starts_in_reasoning_;
  State state_ = State::kStart;
  std::string buf_;
};

// The non-streaming rule (see the class comment).
ReasoningDelta SplitReasoning(absl::string_view text, bool starts_in_reasoning);

}  // namespace r1::detok

#endif  // R1_COORDINATOR_DETOK_REASONING_PARSER_H_
