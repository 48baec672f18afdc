// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (and its
// tokenizer_config.json), encoding and decoding exactly as Hugging Face tokenizers / transformers
// do. Built for DeepSeek-V3/R1 (spec §11), whose pre-tokenizer runs hand-written (fast path);
// other byte-level BPE pipelines (Qwen2, Llama 3, GPT-2 style ByteLevel) run their regexes in
// PCRE2 and their NFC normalizer in ICU.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::LoadFromFile(path));
//   ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->Encode(text));
//   ASSIGN_OR_RETURN(std::string text, tok->Decode(ids));
//
// The files are read by meaning, not spelling (a regex written with escapes or literal
// characters, nested Sequences, ...). Whatever is not implemented (another model or pre-tokenizer
// type, another normalizer, unk tokens, dropout, ...) is refused at load with an error naming the
// file and field, never silently tokenized differently. See README.md for the list.
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

class NfcNormalizer;
class PreTokenizerPipeline;

struct EncodeOptions {
  // Add the post-processor's tokens (DeepSeek: prepend BOS), like Hugging Face's
  // add_special_tokens; tokenizer_config.json may decide them (see tokenizer_config.h).
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

  // Loads `path` (a tokenizer.json) and, when a tokenizer_config.json lies in the same directory,
  // that too, as transformers' AutoTokenizer does with a model directory; so is a
  // chat_template.jinja there (see chat_template()).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromFile(
      const std::string& path, uint64_t max_bytes = kDefaultMaxFileBytes);
  // Loads a tokenizer.json and, unless `config_path` is empty, a tokenizer_config.json.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromFiles(
      const std::string& path, const std::string& config_path,
      uint64_t max_bytes = kDefaultMaxFileBytes);
  // `source` and `config_source` name the JSON texts in error messages (paths, or e.g.
  // "<inline>"); an empty `config_json` means no tokenizer_config.json.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromJson(
      absl::string_view json_text, absl::string_view source, absl::string_view config_json = {},
      absl::string_view config_source = "tokenizer_config.json");

  ~Tokenizer();

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
  // The BOS/EOS tokens tokenizer_config.json names (nullopt without a config, or when it names
  // none).
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }

  // The chat template transformers renders by default (tokenizer.chat_template), as Jinja source:
  // chat_template.jinja beside tokenizer.json (LoadFromFile only; as in transformers it takes
  // priority over the config's), else tokenizer_config.json's chat_template (tokenizer_config.h).
  // Empty when there is none. The tokenizer does not parse it (common/jinja does, in the
  // coordinator's PromptBuilder).
  const std::string& chat_template() const { return chat_template_; }
  // Where chat_template() came from, for error messages: "<dir>/chat_template.jinja" or
  // "<config>: field 'chat_template'"; without a template, what was looked for and why none
  // was found.
  const std::string& chat_template_source() const { return chat_template_source_; }

  // True when the pre-tokenizer is DeepSeek-V3's (in any spelling) and there is no normalizer:
  // encoding uses the hand-written splitter of pre_tokenizer.h.
  bool uses_deepseek_pre_tokenizer() const { return deepseek_fast_path_; }

  // The pieces the normalizer and the pre-tokenizer make of `text` (added tokens are not
  // matched), as bytes: what the BPE model encodes one by one.
  absl::StatusOr<std::vector<std::string>> PreTokenize(absl::string_view text) const;

 private:
  struct EncodeScratch;

  Tokenizer();
  friend class TokenizerLoader;

  // Encodes text without added tokens (already normalized).
  absl::Status EncodePlain(absl::string_view text, EncodeScratch* scratch,
                           std::vector<int32_t>* out) const;

  std::unique_ptr<BpeModel> bpe_;
  std::vector<AddedToken> added_;
  std::unique_ptr<AddedTokenMatcher> matcher_;  // normalized tokens' contents in normalized form
  absl::flat_hash_map<std::string, int32_t> vocab_;  // byte-level string -> id (model vocab)
  std::vector<std::string> id_to_token_;             // tokenizer.json string per id
  std::vector<std::string> token_bytes_;             // decoded bytes per id
  std::vector<bool> valid_;
  std::vector<bool> special_;
  std::vector<int32_t> prefix_ids_;
  std::vector<int32_t> suffix_ids_;
  std::optional<int32_t> bos_id_;
  std::optional<int32_t> eos_id_;
  std::string chat_template_;
  std::string chat_template_source_;
  std::unique_ptr<NfcNormalizer> normalizer_;  // nullptr: no normalizer
  std::unique_ptr<PreTokenizerPipeline> pre_tokenizer_;
  bool deepseek_fast_path_ = false;
};

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_TOKENIZER_H_
