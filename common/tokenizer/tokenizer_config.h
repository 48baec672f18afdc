// tokenizer_config.json, the file in which Hugging Face transformers keeps what a tokenizer.json
// does not say: the BOS/EOS tokens, whether encoding adds them, the tokenizer class.
//
// ParseTokenizerConfig reads the fields that change token ids and refuses values this tokenizer
// does not implement (InvalidArgument naming the file and the field): clean_up_tokenization_spaces,
// split_special_tokens or do_lower_case true, and BOS/EOS token objects with lstrip/rstrip/
// single_word. It also keeps the chat template (chat_template: a string, or a list of
// {"name", "template"} objects of which transformers uses the one named "default"); it is parsed
// where it is rendered (coordinator/api). Other fields (model_max_length, pad_token, ...) are
// ignored here.
//
// SpecialTokensRule gives the post-processor transformers builds from it (see its comment).
//
// Plain data; thread-compatible.
#ifndef R1_COMMON_TOKENIZER_TOKENIZER_CONFIG_H_
#define R1_COMMON_TOKENIZER_TOKENIZER_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace r1::tok {

struct TokenizerConfig {
  struct AddedTokenEntry {  // one entry of added_tokens_decoder
    int64_t id = 0;
    std::string content;
    std::optional<bool> special;
  };

  std::string source;                    // the file name, for error messages
  std::string tokenizer_class;           // empty when absent
  std::optional<std::string> bos_token;  // the content; a string or {"content": ...}
  std::optional<std::string> eos_token;
  std::optional<bool> add_bos_token;  // set when the key is present (null reads as false)
  std::optional<bool> add_eos_token;
  std::optional<bool> add_prefix_space;
  std::vector<AddedTokenEntry> added_tokens_decoder;
  std::vector<std::string> additional_special_tokens;
  // The chat template's source: the string, or the "default" entry of the list form; nullopt
  // when absent, null, or a list without "default" (whose names are then in
  // chat_template_names, for error messages).
  std::optional<std::string> chat_template;
  std::vector<std::string> chat_template_names;
};

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(absl::string_view json_text,
                                                     absl::string_view source);

// The ids that add_special_tokens puts around the text, as transformers decides them:
//
//   - with tokenizer_class LlamaTokenizer(Fast) (DeepSeek's), or when add_bos_token or
//     add_eos_token is present, the tokenizer.json post-processor is replaced by
//     [BOS if add_bos_token] text [EOS if add_eos_token], add_bos_token defaulting to true for the
//     Llama classes and false otherwise, add_eos_token to false (LlamaTokenizerFast and
//     transformers 5's TokenizersBackend.update_post_processor);
//   - otherwise the tokenizer.json post-processor stays.
struct SpecialTokensRule {
  bool replace_post_processor = false;
  bool add_bos = false;
  bool add_eos = false;
};
SpecialTokensRule SpecialTokensRuleOf(const TokenizerConfig& config);

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_TOKENIZER_CONFIG_H_
