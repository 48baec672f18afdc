// Finds added tokens (special strings such as "<｜User｜>") in raw text before pre-tokenization,
// the way Hugging Face's AddedVocabulary does: leftmost-longest matching, non-overlapping, left to
// right; tokens flagged `normalized: false` are split out first, `normalized: true` ones then in
// the remaining gaps (after the normalizer, when the tokenizer has one).
//
// Immutable after construction; thread-safe.
#ifndef R1_COMMON_TOKENIZER_ADDED_TOKENS_H_
#define R1_COMMON_TOKENIZER_ADDED_TOKENS_H_

#include <bitset>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace r1::tok {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = false;
};

// Which added tokens Encode splits out of the text.
enum class AddedTokenMatching {
  kAll,         // every added token (Hugging Face's default)
  kNonSpecial,  // only tokens not flagged special; special strings are plain text (Hugging Face's
                // encode_special_tokens=True). Use for user-supplied text.
  kNone,        // none: the whole text is plain text
};

// A segment of the input: plain text [begin, end), or one added token (`token` >= 0, an index
// into the tokens given to the constructor).
struct Segment {
  size_t begin;
  size_t end;
  int32_t token;
};

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  // Splits `text` into segments (in order, covering `text`), appended to *out: both passes on
  // `text` (right for a tokenizer without a normalizer).
  void Split(absl::string_view text, AddedTokenMatching matching, std::vector<Segment>* out) const;

  // The two passes separately, for a tokenizer with a normalizer (as Hugging Face does it): the
  // `normalized: false` tokens in the raw text, then, in each normalized plain segment, the
  // `normalized: true` tokens (whose contents the caller gave in normalized form).
  void SplitRaw(absl::string_view text, AddedTokenMatching matching,
                std::vector<Segment>* out) const;
  void SplitNormalized(absl::string_view normalized_text, AddedTokenMatching matching,
                       std::vector<Segment>* out) const;

 private:
  // A byte trie over one group of token strings.
  class Trie {
   public:
    void Add(absl::string_view s, int32_t token);
    bool empty() const { return nodes_.size() <= 1; }
    // Longest token starting at text[pos]; returns its index and sets *len, or -1.
    int32_t LongestAt(absl::string_view text, size_t pos, size_t* len) const;
    bool MayStartWith(unsigned char b) const { return first_[b]; }

   private:
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
      int32_t token = -1;
    };
    std::vector<Node> nodes_{Node{}};
    std::bitset<256> first_;
  };

  // One leftmost-longest pass over text[seg.begin, seg.end) with `trie`.
  void SplitPass(absl::string_view text, const Segment& seg, const Trie& trie,
                 AddedTokenMatching matching, std::vector<Segment>* out) const;

  std::vector<bool> special_;  // per token index
  Trie raw_;                   // normalized: false
  Trie normalized_;            // normalized: true
};

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_ADDED_TOKENS_H_
