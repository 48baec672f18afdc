#include "common/tokenizer/tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "common/tokenizer/unicode.h"
#include "nlohmann/json.hpp"

namespace r1::tok {

using json = nlohmann::json;

namespace {

// DeepSeek-V3/R1's pre-tokenizer regexes, exactly as in their tokenizer.json (stage 3 holds
// literal CR and LF characters).
constexpr absl::string_view kStage1 = "\\p{N}{1,3}";
constexpr absl::string_view kStage2 = "[一-龥぀-ゟ゠-ヿ]+";
constexpr absl::string_view kStage3 =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";

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

  absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const json& root) {
    if (!root.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": not a JSON object"));
    }
    tok_.reset(new Tokenizer());
    for (const char* f : {"truncation", "padding"}) {
      if (const json* v = Find(root, f); v != nullptr) {
        return Error(f, "unsupported (must be null)");
      }
    }
    RETURN_IF_ERROR(CheckNormalizer(Find(root, "normalizer")));
    RETURN_IF_ERROR(CheckPreTokenizer(Find(root, "pre_tokenizer")));
    RETURN_IF_ERROR(CheckDecoder(Find(root, "decoder")));
    const json* model = Find(root, "model");
    if (model == nullptr || !model->is_object()) return Error("model", "missing or not an object");
    RETURN_IF_ERROR(LoadModel(*model));
    RETURN_IF_ERROR(LoadAddedTokens(Find(root, "added_tokens")));
    RETURN_IF_ERROR(LoadPostProcessor(Find(root, "post_processor"), "post_processor"));
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
  absl::Status ExpectBool(const json& obj, const char* key, bool want, absl::string_view field) {
    const json* v = Find(obj, key);
    if (v == nullptr || !v->is_boolean() || v->get<bool>() != want) {
      return Error(absl::StrCat(field, ".", key),
                   absl::StrCat("must be ", want ? "true" : "false", " for DeepSeek's tokenizer"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckNormalizer(const json* n) {
    if (n == nullptr) return absl::OkStatus();
    const json* list = Find(*n, "normalizers");
    if (TypeOf(*n) == "Sequence" && list != nullptr && list->is_array() && list->empty()) {
      return absl::OkStatus();
    }
    return Error("normalizer", "unsupported (only none or an empty Sequence)");
  }

  absl::Status CheckPreTokenizer(const json* p) {
    constexpr absl::string_view kWhat =
        "unsupported: only DeepSeek-V3's Sequence of three Split regexes (Isolated) + "
        "ByteLevel(add_prefix_space=false, use_regex=false)";
    if (p == nullptr) return Error("pre_tokenizer", "missing");
    const json* list = Find(*p, "pretokenizers");
    if (TypeOf(*p) != "Sequence" || list == nullptr || !list->is_array() || list->size() != 4) {
      return Error("pre_tokenizer", kWhat);
    }
    const absl::string_view regexes[3] = {kStage1, kStage2, kStage3};
    for (size_t i = 0; i < 3; ++i) {
      const json& s = (*list)[i];
      const std::string field = absl::StrCat("pre_tokenizer.pretokenizers[", i, "]");
      const json* pattern = Find(s, "pattern");
      const json* regex = pattern != nullptr ? Find(*pattern, "Regex") : nullptr;
      const json* behavior = Find(s, "behavior");
      if (TypeOf(s) != "Split" || regex == nullptr || !regex->is_string() ||
          regex->get<std::string>() != regexes[i] || behavior == nullptr ||
          *behavior != "Isolated") {
        return Error(field, kWhat);
      }
      RETURN_IF_ERROR(ExpectBool(s, "invert", false, field));
    }
    const json& bl = (*list)[3];
    if (TypeOf(bl) != "ByteLevel") return Error("pre_tokenizer.pretokenizers[3]", kWhat);
    RETURN_IF_ERROR(ExpectBool(bl, "add_prefix_space", false, "pre_tokenizer.pretokenizers[3]"));
    RETURN_IF_ERROR(ExpectBool(bl, "use_regex", false, "pre_tokenizer.pretokenizers[3]"));
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
    tok_->matcher_ = std::make_unique<AddedTokenMatcher>(tok_->added_);
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

  std::string source_;
  std::unique_ptr<Tokenizer> tok_;
};

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromFile(const std::string& path,
                                                                   uint64_t max_bytes) {
  ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, max_bytes));
  return LoadFromJson(text, path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromJson(absl::string_view json_text,
                                                                   absl::string_view source) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  return TokenizerLoader(source).Load(root);
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(absl::string_view text,
                                                       const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  RETURN_IF_ERROR(EncodeAppend(text, options, &ids));
  return ids;
}

absl::Status Tokenizer::EncodeAppend(absl::string_view text, const EncodeOptions& options,
                                     std::vector<int32_t>* out) const {
  if (text.size() > kMaxEncodeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("text of ", text.size(), " bytes exceeds the limit of ", kMaxEncodeBytes));
  }
  if (size_t bad = FindInvalidUtf8(text); bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8 (at byte offset ", bad, ")"));
  }
  if (options.add_special_tokens) out->insert(out->end(), prefix_ids_.begin(), prefix_ids_.end());
  std::vector<Segment> segments;
  matcher_->Split(text, options.added_tokens, &segments);
  PreTokenizerScratch scratch;
  std::vector<Piece> pieces;
  for (const Segment& seg : segments) {
    if (seg.token >= 0) {
      out->push_back(added_[static_cast<size_t>(seg.token)].id);
      continue;
    }
    const absl::string_view part = text.substr(seg.begin, seg.end - seg.begin);
    pieces.clear();
    PreTokenize(part, &scratch, &pieces);
    for (const Piece& p : pieces) bpe_->Encode(part.substr(p.begin, p.end - p.begin), out);
  }
  if (options.add_special_tokens) out->insert(out->end(), suffix_ids_.begin(), suffix_ids_.end());
  return absl::OkStatus();
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!IsValidId(ids[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown token id ", ids[i], " at position ", i));
    }
    if (skip_special_tokens && IsSpecial(ids[i])) continue;
    bytes.append(token_bytes_[static_cast<size_t>(ids[i])]);
  }
  std::string text;
  text.reserve(bytes.size());
  AppendUtf8Lossy(bytes, /*final=*/true, &text);
  return text;
}

std::optional<int32_t> Tokenizer::TokenToId(absl::string_view token) const {
  if (auto id = AddedTokenId(token)) return id;
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::IdToToken(int32_t id) const {
  return IsValidId(id) ? id_to_token_[static_cast<size_t>(id)] : std::string();
}

std::optional<int32_t> Tokenizer::AddedTokenId(absl::string_view content) const {
  for (const AddedToken& a : added_) {
    if (a.content == content) return a.id;
  }
  return std::nullopt;
}

}  // namespace r1::tok
