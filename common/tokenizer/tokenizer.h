// DeepSeek-V3/R1 tokenizer: loads a Hugging Face tokenizer.json (byte-level BPE with the
// DeepSeek pre-tokenizer, spec §11) and encodes/decodes exactly as Hugging Face tokenizers does.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::LoadFromFile(path));
//   ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->Encode(text));
//   ASSIGN_OR_RETURN(std::string text, tok->Decode(ids));
//
// Only what DeepSeek's tokenizer.json uses is supported; anything else (another pre-tokenizer,
// a normalizer, unk tokens, dropout, ...) is refused at load with an error naming the file and
// field, never silently tokenized differently.
//
// Immutable after loading: every method is const and thread-safe (the BPE cache inside is
// synchronised). Owned by the caller; the coordinator keeps one for the process.
#ifndef R1_COMMON_TOKENIZER_TOKENIZER_H_
#define R1_COMMON_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/tokenizer/added_tokens.h"
#include "common/tokenizer/bpe.h"

namespace r1::tok {

struct EncodeOptions {
  // Apply the post-processor (DeepSeek: prepend BOS), like Hugging Face's add_special_tokens.
  bool add_special_tokens = false;
  // Which added tokens are split out of the text. kAll matches Hugging Face's default; use
  // kNonSpecial (or kNone) for user-supplied text so that "<｜User｜>" typed by a user stays text.
  AddedTokenMatching added_tokens = AddedTokenMatching::kAll;
};

class Tokenizer {
 public:
  // Largest tokenizer.json accepted (R1's is 7.8 MB).
  static constexpr uint64_t kDefaultMaxFileBytes = 64ull << 20;
  // Largest text Encode accepts in one call.
  static constexpr size_t kMaxEncodeBytes = 1ull << 30;

  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromFile(
      const std::string& path, uint64_t max_bytes = kDefaultMaxFileBytes);
  // `source` names the JSON in error messages (a path, or e.g. "<inline>").
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromJson(absl::string_view json_text,
                                                                 absl::string_view source);

  // Encodes UTF-8 text. Invalid UTF-8 is refused (InvalidArgument naming the byte offset);
  // texts over kMaxEncodeBytes too.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text,
                                              const EncodeOptions& options = {}) const;
  absl::Status EncodeAppend(absl::string_view text, const EncodeOptions& options,
                            std::vector<int32_t>* out) const;

  // Decodes ids to text like Hugging Face's decode(ids, skip_special_tokens): the ByteLevel
  // decoder's bytes, with invalid UTF-8 replaced by U+FFFD. Unknown ids are an error.
  // skip_special_tokens drops tokens flagged special (DeepSeek's <think>/</think> are not).
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids,
                                     bool skip_special_tokens = false) const;

  // The bytes one token decodes to (possibly part of a UTF-8 sequence); empty for unknown ids.
  absl::string_view TokenBytes(int32_t id) const {
    return IsValidId(id) ? absl::string_view(token_bytes_[static_cast<size_t>(id)])
                         : absl::string_view();
  }
  bool IsValidId(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < valid_.size() && valid_[static_cast<size_t>(id)];
  }
  // True for added tokens flagged special.
  bool IsSpecial(int32_t id) const { return IsValidId(id) && special_[static_cast<size_t>(id)]; }
  // One past the largest id.
  int32_t id_limit() const { return static_cast<int32_t>(valid_.size()); }

  // Id of a token by its tokenizer.json string (added-token content, or a vocab entry in its
  // byte-level form such as "Ġthe").
  std::optional<int32_t> TokenToId(absl::string_view token) const;
  // The tokenizer.json string of an id; empty for unknown ids.
  std::string IdToToken(int32_t id) const;

  const std::vector<AddedToken>& added_tokens() const { return added_; }
  // Id of the added token with this content.
  std::optional<int32_t> AddedTokenId(absl::string_view content) const;
  // Ids the post-processor puts before/after the text with add_special_tokens.
  const std::vector<int32_t>& prefix_ids() const { return prefix_ids_; }
  const std::vector<int32_t>& suffix_ids() const { return suffix_ids_; }

 private:
  Tokenizer() = default;
  friend class TokenizerLoader;

  std::unique_ptr<BpeModel> bpe_;
  std::vector<AddedToken> added_;
  std::unique_ptr<AddedTokenMatcher> matcher_;
  absl::flat_hash_map<std::string, int32_t> vocab_;  // byte-level string -> id (model vocab)
  std::vector<std::string> id_to_token_;             // tokenizer.json string per id
  std::vector<std::string> token_bytes_;             // decoded bytes per id
  std::vector<bool> valid_;
  std::vector<bool> special_;
  std::vector<int32_t> prefix_ids_;
  std::vector<int32_t> suffix_ids_;
};

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_TOKENIZER_H_
