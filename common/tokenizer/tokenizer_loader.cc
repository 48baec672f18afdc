// Reading tokenizer.json and tokenizer_config.json into a Tokenizer (tokenizer.h).
#include <algorithm>
#include <array>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/normalizer.h"
#include "common/tokenizer/pre_tokenizer_pipeline.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/tokenizer_config.h"
#include "common/tokenizer/unicode.h"
#include "nlohmann/json.hpp"

namespace r1::tok {

using json = nlohmann::json;

namespace {

// Ids above this are refused (R1 uses 128,815): keeps per-id tables bounded.
constexpr int64_t kMaxId = 1 << 24;

}  // namespace

// Builds a Tokenizer from parsed JSON; every error names the source and the field.
class TokenizerLoader {
 public:
  explicit TokenizerLoader(absl::string_view source) : source_(source) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": field '", field, "': ", what));
  }

  absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const json& root, const TokenizerConfig* config) {
    if (!root.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": not a JSON object"));
    }
    tok_.reset(new Tokenizer());
    for (const char* f : {"truncation", "padding"}) {
      if (const json* v = Find(root, f); v != nullptr) {
        return Error(f, "unsupported (must be null)");
      }
    }
    RETURN_IF_ERROR(LoadNormalizer(Find(root, "normalizer")));
    ASSIGN_OR_RETURN(
        tok_->pre_tokenizer_,
        PreTokenizerPipeline::FromJson(Find(root, "pre_tokenizer"),
                                       [this](absl::string_view field, absl::string_view what) {
                                         return Error(field, what);
                                       }));
    tok_->deepseek_fast_path_ = tok_->pre_tokenizer_->is_deepseek() && tok_->normalizer_ == nullptr;
    RETURN_IF_ERROR(CheckDecoder(Find(root, "decoder")));
    const json* model = Find(root, "model");
    if (model == nullptr || !model->is_object()) return Error("model", "missing or not an object");
    RETURN_IF_ERROR(LoadModel(*model));
    RETURN_IF_ERROR(LoadAddedTokens(Find(root, "added_tokens")));
    RETURN_IF_ERROR(LoadPostProcessor(Find(root, "post_processor"), "post_processor"));
    if (config != nullptr) RETURN_IF_ERROR(ApplyConfig(*config));
    return std::move(tok_);
  }

 private:
  static const json* Find(const json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }
  static std::string TypeOf(const json& obj) {
    const json* t = Find(obj, "type");
    return t != nullptr && t->is_string() ? t->get<std::string>() : std::string();
  }
  // Collects the normalizers of a (nested) Sequence; only NFC (any number of times: it is
  // idempotent) is implemented.
  absl::Status CollectNormalizers(const json& n, const std::string& field, bool* nfc) {
    const std::string type = TypeOf(n);
    if (type == "Sequence") {
      const json* list = Find(n, "normalizers");
      if (list == nullptr || !list->is_array()) {
        return Error(field + ".normalizers", "missing or not an array");
      }
      for (size_t i = 0; i < list->size(); ++i) {
        RETURN_IF_ERROR(
            CollectNormalizers((*list)[i], absl::StrCat(field, ".normalizers[", i, "]"), nfc));
      }
      return absl::OkStatus();
    }
    if (type == "NFC") {
      *nfc = true;
      return absl::OkStatus();
    }
    return Error(field, absl::StrCat("unsupported normalizer type '", type,
                                     "' (supported: NFC, a Sequence of them, or none)"));
  }

  absl::Status LoadNormalizer(const json* n) {
    if (n == nullptr) return absl::OkStatus();
    bool nfc = false;
    RETURN_IF_ERROR(CollectNormalizers(*n, "normalizer", &nfc));
    if (!nfc) return absl::OkStatus();
    auto normalizer = NfcNormalizer::Create();
    if (!normalizer.ok()) return Error("normalizer", normalizer.status().message());
    tok_->normalizer_ = std::move(*normalizer);
    return absl::OkStatus();
  }

  absl::Status CheckDecoder(const json* d) {
    if (d != nullptr && TypeOf(*d) == "ByteLevel") return absl::OkStatus();
    const json* list = d != nullptr ? Find(*d, "decoders") : nullptr;
    if (d != nullptr && TypeOf(*d) == "Sequence" && list != nullptr && list->is_array() &&
        list->size() == 1 && TypeOf((*list)[0]) == "ByteLevel") {
      return absl::OkStatus();
    }
    return Error("decoder", "unsupported (only ByteLevel)");
  }

  absl::Status SetId(int64_t id, std::string token, absl::string_view field) {
    if (id < 0 || id >= kMaxId) return Error(field, absl::StrCat("id ", id, " out of range"));
    const auto i = static_cast<size_t>(id);
    if (i >= tok_->valid_.size()) {
      tok_->valid_.resize(i + 1, false);
      tok_->special_.resize(i + 1, false);
      tok_->id_to_token_.resize(i + 1);
      tok_->token_bytes_.resize(i + 1);
    }
    tok_->valid_[i] = true;
    tok_->token_bytes_[i] = ByteLevelDecodeToken(token);
    tok_->id_to_token_[i] = std::move(token);
    return absl::OkStatus();
  }

  absl::Status LoadModel(const json& m) {
    if (TypeOf(m) != "BPE") return Error("model.type", "unsupported (only BPE)");
    if (Find(m, "dropout") != nullptr) return Error("model.dropout", "unsupported (must be null)");
    if (Find(m, "unk_token") != nullptr) {
      return Error("model.unk_token", "unsupported (must be null; byte-level BPE needs none)");
    }
    for (const char* f : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const json* v = Find(m, f);
      if (v != nullptr && !(v->is_string() && v->get<std::string>().empty())) {
        return Error(absl::StrCat("model.", f), "unsupported (must be null)");
      }
    }
    if (const json* v = Find(m, "byte_fallback"); v != nullptr && *v != false) {
      return Error("model.byte_fallback", "unsupported (must be false)");
    }
    bool ignore_merges = false;
    if (const json* v = Find(m, "ignore_merges"); v != nullptr) {
      if (!v->is_boolean()) return Error("model.ignore_merges", "expected true/false");
      ignore_merges = v->get<bool>();
    }
    const json* vocab = Find(m, "vocab");
    if (vocab == nullptr || !vocab->is_object()) {
      return Error("model.vocab", "missing or not an object");
    }
    absl::flat_hash_map<std::string, int32_t> whole_pieces;
    std::string bytes;
    tok_->vocab_.reserve(vocab->size());
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
      const std::string field = absl::StrCat("model.vocab[", json(it.key()).dump(), "]");
      if (!it->is_number_integer()) return Error(field, "expected an integer id");
      const int64_t id = it->get<int64_t>();
      RETURN_IF_ERROR(SetId(id, it.key(), field));
      tok_->vocab_[it.key()] = static_cast<int32_t>(id);
      if (ignore_merges && ByteLevelToBytes(it.key(), &bytes)) {
        whole_pieces[bytes] = static_cast<int32_t>(id);
      }
    }
    std::array<int32_t, 256> byte_ids;
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      AppendUtf8(ByteToChar(static_cast<unsigned char>(b)), &ch);
      auto it = tok_->vocab_.find(ch);
      byte_ids[static_cast<size_t>(b)] = it == tok_->vocab_.end() ? -1 : it->second;
    }
    const json* merges = Find(m, "merges");
    if (merges == nullptr || !merges->is_array()) {
      return Error("model.merges", "missing or not an array");
    }
    std::vector<BpeModel::Merge> pairs;
    std::vector<int32_t> merged;
    pairs.reserve(merges->size());
    merged.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const json& e = (*merges)[i];
      const std::string field = absl::StrCat("model.merges[", i, "]");
      std::string a, b;
      if (e.is_string()) {  // "a b" (older files, such as DeepSeek's)
        const std::string s = e.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
          return Error(field, "expected \"left right\"");
        }
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        a = e[0].get<std::string>();
        b = e[1].get<std::string>();
      } else {
        return Error(field, "expected \"left right\" or [left, right]");
      }
      auto ia = tok_->vocab_.find(a);
      auto ib = tok_->vocab_.find(b);
      auto iab = tok_->vocab_.find(a + b);
      if (ia == tok_->vocab_.end() || ib == tok_->vocab_.end() || iab == tok_->vocab_.end()) {
        return Error(field, "refers to a token missing from model.vocab");
      }
      pairs.push_back({ia->second, ib->second});
      merged.push_back(iab->second);
    }
    tok_->bpe_ =
        std::make_unique<BpeModel>(byte_ids, pairs, merged, ignore_merges, std::move(whole_pieces));
    return absl::OkStatus();
  }

  absl::Status LoadAddedTokens(const json* list) {
    if (list != nullptr && !list->is_array()) return Error("added_tokens", "not an array");
    absl::flat_hash_map<std::string, int32_t> seen;
    for (size_t i = 0; list != nullptr && i < list->size(); ++i) {
      const json& t = (*list)[i];
      const std::string field = absl::StrCat("added_tokens[", i, "]");
      const json* id = Find(t, "id");
      const json* content = Find(t, "content");
      if (id == nullptr || !id->is_number_integer()) return Error(field + ".id", "missing");
      if (content == nullptr || !content->is_string() || content->get<std::string>().empty()) {
        return Error(field + ".content", "missing or empty");
      }
      for (const char* f : {"single_word", "lstrip", "rstrip"}) {
        if (const json* v = Find(t, f); v != nullptr && *v != false) {
          return Error(absl::StrCat(field, ".", f), "unsupported (must be false)");
        }
      }
      AddedToken a;
      a.id = static_cast<int32_t>(std::clamp<int64_t>(id->get<int64_t>(), -1, kMaxId));
      a.content = content->get<std::string>();
      if (FindInvalidUtf8(a.content) != absl::string_view::npos) {
        return Error(field + ".content", "not valid UTF-8");
      }
      const json* special = Find(t, "special");
      const json* normalized = Find(t, "normalized");
      a.special = special != nullptr && *special == true;
      a.normalized = normalized == nullptr || *normalized == true;  // HF's default is true
      if (!seen.emplace(a.content, a.id).second) return Error(field, "duplicate content");
      RETURN_IF_ERROR(SetId(id->get<int64_t>(), a.content, field + ".id"));
      tok_->special_[static_cast<size_t>(a.id)] = a.special;
      tok_->added_.push_back(std::move(a));
    }
    std::vector<AddedToken> match = tok_->added_;
    if (tok_->normalizer_ != nullptr) {  // Hugging Face matches these in normalized form
      for (AddedToken& a : match) {
        if (!a.normalized) continue;
        std::string n;
        tok_->normalizer_->Normalize(a.content, &n);
        a.content = std::move(n);
      }
    }
    tok_->matcher_ = std::make_unique<AddedTokenMatcher>(match);
    return absl::OkStatus();
  }

  absl::Status LoadPostProcessor(const json* p, const std::string& field) {
    if (p == nullptr) return absl::OkStatus();
    const std::string type = TypeOf(*p);
    if (type == "ByteLevel") return absl::OkStatus();  // offsets only; ids unchanged
    if (type == "Sequence") {
      const json* list = Find(*p, "processors");
      if (list == nullptr || !list->is_array()) return Error(field + ".processors", "missing");
      for (size_t i = 0; i < list->size(); ++i) {
        RETURN_IF_ERROR(
            LoadPostProcessor(&(*list)[i], absl::StrCat(field, ".processors[", i, "]")));
      }
      return absl::OkStatus();
    }
    if (type != "TemplateProcessing") {
      return Error(field, "unsupported (only TemplateProcessing, ByteLevel or Sequence)");
    }
    if (!tok_->prefix_ids_.empty() || !tok_->suffix_ids_.empty()) {
      return Error(field, "more than one TemplateProcessing");
    }
    const json* single = Find(*p, "single");
    const json* specials = Find(*p, "special_tokens");
    if (single == nullptr || !single->is_array()) return Error(field + ".single", "missing");
    bool seen_sequence = false;
    for (size_t i = 0; i < single->size(); ++i) {
      const json& item = (*single)[i];
      const std::string f = absl::StrCat(field, ".single[", i, "]");
      if (Find(item, "Sequence") != nullptr) {
        if (seen_sequence) return Error(f, "more than one sequence");
        seen_sequence = true;
        continue;
      }
      const json* st = Find(item, "SpecialToken");
      const json* name = st != nullptr ? Find(*st, "id") : nullptr;
      if (name == nullptr || !name->is_string())
        return Error(f, "expected SpecialToken or Sequence");
      const json* entry =
          specials != nullptr ? Find(*specials, name->get<std::string>().c_str()) : nullptr;
      const json* ids = entry != nullptr ? Find(*entry, "ids") : nullptr;
      if (ids == nullptr || !ids->is_array()) {
        return Error(field + ".special_tokens", absl::StrCat("no ids for ", name->dump()));
      }
      for (const json& id : *ids) {
        if (!id.is_number_integer() || !tok_->IsValidId(static_cast<int32_t>(
                                           std::clamp<int64_t>(id.get<int64_t>(), -1, kMaxId)))) {
          return Error(field + ".special_tokens", absl::StrCat("unknown id in ", name->dump()));
        }
        (seen_sequence ? tok_->suffix_ids_ : tok_->prefix_ids_).push_back(id.get<int32_t>());
      }
    }
    if (!seen_sequence) return Error(field + ".single", "no $A sequence");
    return absl::OkStatus();
  }

  absl::Status ConfigError(const TokenizerConfig& c, absl::string_view field,
                           absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(c.source, ": field '", field, "': ", what));
  }

  absl::StatusOr<int32_t> ConfigTokenId(const TokenizerConfig& c, absl::string_view field,
                                        const std::string& content) const {
    std::optional<int32_t> id = tok_->TokenToId(content);
    if (!id.has_value()) {
      return ConfigError(c, field,
                         absl::StrCat(json(content).dump(), " is not a token of ", source_,
                                      " (transformers would add it as a new token)"));
    }
    return *id;
  }

  // tokenizer_config.json: BOS/EOS and the post-processor transformers builds from it, and
  // checks that it adds no token and changes no pre-tokenizer setting.
  absl::Status ApplyConfig(const TokenizerConfig& c) {
    if (c.chat_template.has_value()) {
      tok_->chat_template_ = *c.chat_template;
      tok_->chat_template_source_ = absl::StrCat(c.source, ": field 'chat_template'");
    } else if (!c.chat_template_names.empty()) {
      tok_->chat_template_source_ =
          absl::StrCat(c.source, ": field 'chat_template': a list of templates named ",
                       absl::StrJoin(c.chat_template_names, ", "), " but none named 'default'");
    } else {
      tok_->chat_template_source_ = absl::StrCat(c.source, ": no field 'chat_template'");
    }
    if (c.bos_token.has_value()) {
      ASSIGN_OR_RETURN(tok_->bos_id_, ConfigTokenId(c, "bos_token", *c.bos_token));
    }
    if (c.eos_token.has_value()) {
      ASSIGN_OR_RETURN(tok_->eos_id_, ConfigTokenId(c, "eos_token", *c.eos_token));
    }
    for (const TokenizerConfig::AddedTokenEntry& e : c.added_tokens_decoder) {
      const std::string field = absl::StrCat("added_tokens_decoder[\"", e.id, "\"]");
      ASSIGN_OR_RETURN(int32_t id, ConfigTokenId(c, field, e.content));
      if (id != e.id) {
        return ConfigError(c, field,
                           absl::StrCat(json(e.content).dump(), " has id ", id, " in ", source_));
      }
      if (e.special.has_value() && *e.special != tok_->IsSpecial(id) &&
          tok_->AddedTokenId(e.content).has_value()) {
        return ConfigError(c, field + ".special",
                           absl::StrCat("differs from the added token's flag in ", source_));
      }
    }
    for (size_t i = 0; i < c.additional_special_tokens.size(); ++i) {
      RETURN_IF_ERROR(ConfigTokenId(c, absl::StrCat("additional_special_tokens[", i, "]"),
                                    c.additional_special_tokens[i])
                          .status());
    }
    const SpecialTokensRule rule = SpecialTokensRuleOf(c);
    if (c.add_prefix_space.has_value()) {
      if (rule.replace_post_processor && c.tokenizer_class.rfind("Llama", 0) == 0) {
        return ConfigError(c, "add_prefix_space",
                           "unsupported with LlamaTokenizerFast (transformers then rebuilds the "
                           "tokenizer from a SentencePiece file)");
      }
      if (*c.add_prefix_space != tok_->pre_tokenizer_->add_prefix_space()) {
        return ConfigError(c, "add_prefix_space",
                           absl::StrCat("disagrees with the ByteLevel pre-tokenizer of ", source_));
      }
    }
    if (!rule.replace_post_processor) return absl::OkStatus();
    if (rule.add_bos && !tok_->bos_id_.has_value()) {
      return ConfigError(c, "add_bos_token", "is true but bos_token is missing or null");
    }
    if (rule.add_eos && !tok_->eos_id_.has_value()) {
      return ConfigError(c, "add_eos_token", "is true but eos_token is missing or null");
    }
    tok_->prefix_ids_.clear();
    tok_->suffix_ids_.clear();
    if (rule.add_bos) tok_->prefix_ids_.push_back(*tok_->bos_id_);
    if (rule.add_eos) tok_->suffix_ids_.push_back(*tok_->eos_id_);
    return absl::OkStatus();
  }

  std::string source_;
  std::unique_ptr<Tokenizer> tok_;
};

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromJson(
    absl::string_view json_text, absl::string_view source, absl::string_view config_json,
    absl::string_view config_source) {
  std::optional<TokenizerConfig> config;
  if (!config_json.empty()) {
    ASSIGN_OR_RETURN(config, ParseTokenizerConfig(config_json, config_source));
  }
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok,
                   TokenizerLoader(source).Load(root, config.has_value() ? &*config : nullptr));
  if (!config.has_value()) tok->chat_template_source_ = "no tokenizer_config.json";
  return tok;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromFiles(const std::string& path,
                                                                    const std::string& config_path,
                                                                    uint64_t max_bytes) {
  ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, max_bytes));
  std::string config;
  if (!config_path.empty()) {
    ASSIGN_OR_RETURN(config, ReadFileBounded(config_path, max_bytes));
    if (config.empty()) return absl::InvalidArgumentError(config_path + ": empty file");
  }
  return LoadFromJson(text, path, config, config_path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromFile(const std::string& path,
                                                                   uint64_t max_bytes) {
  std::error_code ec;
  const std::filesystem::path config =
      std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  const bool has_config = std::filesystem::is_regular_file(config, ec);
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok,
                   LoadFromFiles(path, has_config ? config.string() : std::string(), max_bytes));
  if (!has_config) tok->chat_template_source_ = absl::StrCat("no ", config.string());
  // transformers: "an independent chat template file ... takes priority over template entries
  // in the tokenizer config".
  const std::filesystem::path jinja =
      std::filesystem::path(path).parent_path() / "chat_template.jinja";
  if (std::filesystem::is_regular_file(jinja, ec)) {
    ASSIGN_OR_RETURN(tok->chat_template_, ReadFileBounded(jinja.string(), max_bytes));
    tok->chat_template_source_ = jinja.string();
  } else if (tok->chat_template_.empty()) {
    absl::StrAppend(&tok->chat_template_source_, ", and no ", jinja.string());
  }
  return tok;
}

}  // namespace r1::tok
