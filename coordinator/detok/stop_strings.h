// Applies OpenAI-style stop strings to streamed text. The output ends right before the first
// stop string to complete (the one ending earliest in the text; at equal ends the longest, i.e.
// the one starting earliest); the stop string and everything after it are never emitted. Text
// that could still be the start of a stop string is held back, and only that: the longest
// suffix of the text seen so far that is a proper prefix of some stop string. Stop strings and
// input are UTF-8; held-back suffixes start on character boundaries, so emitted text is valid
// UTF-8 whenever the input is.
//
// TruncateAtStop() is the same rule applied to a complete text; any split of a text fed through
// Append and Finish emits exactly its result.
//
// One instance per sequence; not thread-safe.
#ifndef R1_COORDINATOR_DETOK_STOP_STRINGS_H_
#define R1_COORDINATOR_DETOK_STOP_STRINGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace r1::detok {

class StopStringMatcher {
 public:
  // Empty strings are ignored.
  explicit StopStringMatcher(std::vector<std::string> stops);

  // Appends to *emit the text that is certain to be output. Returns true once a stop string has
  // matched (then, and for any later call, nothing more is emitted).
  bool Append(absl::string_view text, std::string* emit);
  // End of the text: emits what was held back (unless stopped).
  void Finish(std::string* emit);

  bool stopped() const { return matched_.has_value(); }
  // The stop string that matched.
  const std::optional<std::string>& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  size_t max_len_ = 0;
  std::string held_;
  std::optional<std::string> matched_;
};

// Where the complete `text` is cut (its length when no stop string occurs), and which matched.
size_t TruncateAtStop(absl::string_view text, const std::vector<std::string>& stops,
                      std::optional<std::string>* matched = nullptr);

}  // namespace r1::detok

#endif  // R1_COORDINATOR_DETOK_STOP_STRINGS_H_
