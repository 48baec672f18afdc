// The pre-tokenizer of a tokenizer.json, read by what it means:
//
//   - a Sequence (nested Sequences flatten) of Split stages followed by one ByteLevel stage, the
//     pipelines of byte-level BPE tokenizers (DeepSeek-V3/R1, Qwen2, Llama 3) and a lone
//     ByteLevel (GPT-2 style, with its own regex when use_regex);
//   - Split: a regex (tokenizer.json "Regex", run with PCRE2, see pcre2_regex.h) or a literal
//     ("String"), behaviour Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous,
//     and `invert`, each exactly as Hugging Face tokenizers applies them;
//   - ByteLevel: add_prefix_space (a space before every piece that does not start with one) and
//     use_regex (GPT-2's split regex); its byte-to-character mapping is the BPE model's business.
//
// When the stages are DeepSeek-V3's (the three Split regexes, however they are spelled — see
// regex_translate.h — then ByteLevel without prefix space or regex), is_deepseek() is true and the
// caller uses the hand-written splitter of pre_tokenizer.h instead (no regex engine, several
// times faster). Anything else is refused by FromJson with an error naming the field.
//
// Immutable after FromJson; Run is const and thread-safe.
#ifndef R1_COMMON_TOKENIZER_PRE_TOKENIZER_PIPELINE_H_
#define R1_COMMON_TOKENIZER_PRE_TOKENIZER_PIPELINE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/pcre2_regex.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "nlohmann/json_fwd.hpp"

namespace r1::tok {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Pieces as byte ranges of `bytes`. Stages only append to `bytes` (a prefix space makes a new
// copy of the piece), so earlier ranges stay valid.
struct PieceList {
  std::string bytes;
  std::vector<Piece> pieces;
};

// One Split stage.
class RegexSplit {
 public:
  RegexSplit(std::unique_ptr<Pcre2Regex> regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}

  // Splits the piece `in` of `bytes` and appends the resulting non-empty pieces to *out.
  // `matches` is scratch space.
  absl::Status Apply(absl::string_view bytes, Piece in, std::vector<Pcre2Regex::Match>* matches,
                     std::vector<Piece>* out) const;

 private:
  std::unique_ptr<Pcre2Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class PreTokenizerPipeline {
 public:
  // Builds an error naming the file: error("pre_tokenizer.pretokenizers[0]", "what").
  using ErrorFn = std::function<absl::Status(absl::string_view field, absl::string_view what)>;

  // `pre_tokenizer` is the tokenizer.json field (nullptr when absent or null: refused, a
  // byte-level BPE needs a ByteLevel stage). DeepSeek's stages are run by the hand-written
  // splitter unless `regex_for_deepseek` (tests compare the two).
  static absl::StatusOr<std::unique_ptr<PreTokenizerPipeline>> FromJson(
      const nlohmann::json* pre_tokenizer, const ErrorFn& error, bool regex_for_deepseek = false);

  bool is_deepseek() const { return is_deepseek_; }
  bool add_prefix_space() const { return add_prefix_space_; }

  // Splits `text` (valid UTF-8): list->bytes and list->pieces are replaced by the pieces.
  // Fails only when the regex engine gives up (ResourceExhausted).
  absl::Status Run(absl::string_view text, PieceList* list) const;

 private:
  PreTokenizerPipeline() = default;

  std::vector<std::unique_ptr<RegexSplit>> splits_;  // in order, before ByteLevel
  bool add_prefix_space_ = false;
  std::unique_ptr<RegexSplit> byte_level_split_;  // use_regex: GPT-2's regex, Isolated
  bool is_deepseek_ = false;
  bool hand_written_ = false;  // Run uses PreTokenize (pre_tokenizer.h)
};

// The regex ByteLevel(use_regex = true) splits with (Hugging Face tokenizers' byte_level.rs).
inline constexpr absl::string_view kByteLevelRegex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_PRE_TOKENIZER_PIPELINE_H_
