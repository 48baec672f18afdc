#include "common/tokenizer/tokenizer_config.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace r1::tok {
namespace {

using json = nlohmann::json;

class ConfigParser {
 public:
  explicit ConfigParser(absl::string_view source) { config_.source = std::string(source); }

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(config_.source, ": field '", field, "': ", what));
  }

  absl::StatusOr<TokenizerConfig> Parse(const json& root) {
    if (!root.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(config_.source, ": not a JSON object"));
    }
    if (auto it = root.find("tokenizer_class"); it != root.end() && !it->is_null()) {
      if (!it->is_string()) return Error("tokenizer_class", "expected a string");
      config_.tokenizer_class = it->get<std::string>();
    }
    ASSIGN_OR_RETURN(config_.bos_token, TokenContent(root, "bos_token"));
    ASSIGN_OR_RETURN(config_.eos_token, TokenContent(root, "eos_token"));
    for (auto [key, out] : {std::pair{"add_bos_token", &config_.add_bos_token},
                            std::pair{"add_eos_token", &config_.add_eos_token}}) {
      auto it = root.find(key);
      if (it == root.end()) continue;
      if (it->is_null()) {
        *out = false;  // transformers: present but falsy
      } else if (it->is_boolean()) {
        *out = it->get<bool>();
      } else {
        return Error(key, "expected true, false or null");
      }
    }
    if (auto it = root.find("add_prefix_space"); it != root.end() && !it->is_null()) {
      if (!it->is_boolean()) return Error("add_prefix_space", "expected true, false or null");
      config_.add_prefix_space = it->get<bool>();
    }
    static constexpr std::pair<const char*, const char*> kRefusedWhenTrue[] = {
        {"clean_up_tokenization_spaces",
         "unsupported (must be false: decoding keeps the decoder's text as it is)"},
        {"split_special_tokens",
         "unsupported (must be false; encode user text with AddedTokenMatching::kNonSpecial "
         "instead)"},
        {"do_lower_case", "unsupported (must be false)"},
    };
    for (const auto& [key, what] : kRefusedWhenTrue) {
      auto it = root.find(key);
      if (it != root.end() && !it->is_null() && *it != false) return Error(key, what);
    }
    RETURN_IF_ERROR(ParseAddedTokensDecoder(root));
    if (auto it = root.find("additional_special_tokens"); it != root.end() && !it->is_null()) {
      if (!it->is_array()) return Error("additional_special_tokens", "expected an array");
      for (size_t i = 0; i < it->size(); ++i) {
        const std::string field = absl::StrCat("additional_special_tokens[", i, "]");
        ASSIGN_OR_RETURN(std::optional<std::string> t, TokenValue((*it)[i], field));
        if (!t.has_value()) return Error(field, "expected a token");
        config_.additional_special_tokens.push_back(std::move(*t));
      }
    }
    RETURN_IF_ERROR(ParseChatTemplate(root));
    return std::move(config_);
  }

 private:
  // "chat_template": a string, or [{"name": ..., "template": ...}, ...] (transformers' form for
  // several templates; the one named "default" is the one apply_chat_template uses by default).
  absl::Status ParseChatTemplate(const json& root) {
    auto it = root.find("chat_template");
    if (it == root.end() || it->is_null()) return absl::OkStatus();
    if (it->is_string()) {
      config_.chat_template = it->get<std::string>();
      return absl::OkStatus();
    }
    if (!it->is_array()) {
      return Error("chat_template", "expected a string or a list of {\"name\", \"template\"}");
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& entry = (*it)[i];
      const std::string field = absl::StrCat("chat_template[", i, "]");
      if (!entry.is_object()) return Error(field, "expected a {\"name\", \"template\"} object");
      auto name = entry.find("name");
      auto tmpl = entry.find("template");
      if (name == entry.end() || !name->is_string()) {
        return Error(field + ".name", "missing or not a string");
      }
      if (tmpl == entry.end() || !tmpl->is_string()) {
        return Error(field + ".template", "missing or not a string");
      }
      config_.chat_template_names.push_back(name->get<std::string>());
      if (name->get<std::string>() == "default") config_.chat_template = tmpl->get<std::string>();
    }
    return absl::OkStatus();
  }

  // A token given as a string or as an AddedToken object {"content": ..., "lstrip": ...}.
  absl::StatusOr<std::optional<std::string>> TokenValue(const json& v, const std::string& field) {
    if (v.is_null()) return std::optional<std::string>();
    if (v.is_string()) return std::optional<std::string>(v.get<std::string>());
    if (!v.is_object()) return Error(field, "expected a string, an AddedToken object or null");
    auto content = v.find("content");
    if (content == v.end() || !content->is_string()) {
      return Error(field + ".content", "missing or not a string");
    }
    for (const char* f : {"lstrip", "rstrip", "single_word"}) {
      auto it = v.find(f);
      if (it != v.end() && !it->is_null() && *it != false) {
        return Error(absl::StrCat(field, ".", f), "unsupported (must be false)");
      }
    }
    return std::optional<std::string>(content->get<std::string>());
  }

  absl::StatusOr<std::optional<std::string>> TokenContent(const json& root, const char* key) {
    auto it = root.find(key);
    if (it == root.end()) return std::optional<std::string>();
    return TokenValue(*it, key);
  }

  absl::Status ParseAddedTokensDecoder(const json& root) {
    auto it = root.find("added_tokens_decoder");
    if (it == root.end() || it->is_null()) return absl::OkStatus();
    if (!it->is_object()) return Error("added_tokens_decoder", "expected an object");
    for (auto e = it->begin(); e != it->end(); ++e) {
      const std::string field = absl::StrCat("added_tokens_decoder[", json(e.key()).dump(), "]");
      TokenizerConfig::AddedTokenEntry entry;
      if (!absl::SimpleAtoi(e.key(), &entry.id) || entry.id < 0) {
        return Error(field, "the key must be a token id");
      }
      ASSIGN_OR_RETURN(std::optional<std::string> content, TokenValue(e.value(), field));
      if (!content.has_value()) return Error(field, "expected a token");
      entry.content = std::move(*content);
      if (auto s = e.value().find("special"); s != e.value().end() && s->is_boolean()) {
        entry.special = s->get<bool>();
      }
      config_.added_tokens_decoder.push_back(std::move(entry));
    }
    return absl::OkStatus();
  }

  TokenizerConfig config_;
};

}  // namespace

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(absl::string_view json_text,
                                                     absl::string_view source) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  return ConfigParser(source).Parse(root);
}

SpecialTokensRule SpecialTokensRuleOf(const TokenizerConfig& config) {
  const bool llama =
      config.tokenizer_class == "LlamaTokenizerFast" || config.tokenizer_class == "LlamaTokenizer";
  SpecialTokensRule rule;
  rule.replace_post_processor =
      llama || config.add_bos_token.has_value() || config.add_eos_token.has_value();
  rule.add_bos = config.add_bos_token.value_or(llama);
  rule.add_eos = config.add_eos_token.value_or(false);
  return rule;
}

}  // namespace r1::tok
