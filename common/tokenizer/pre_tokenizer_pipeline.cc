#include "common/tokenizer/pre_tokenizer_pipeline.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tokenizer/regex_translate.h"
#include "common/tokenizer/unicode.h"
#include "nlohmann/json.hpp"

namespace r1::tok {
namespace {

using json = nlohmann::json;

// One stage as tokenizer.json describes it.
struct StageSpec {
  std::string field;
  bool byte_level = false;
  std::string regex;  // Split: the pattern (a "String" pattern as an escaped regex)
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel
  bool use_regex = true;          // ByteLevel (Hugging Face's default)
};

const json* Find(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

absl::Status RequiredBool(const json& obj, const char* key, const std::string& field,
                          const PreTokenizerPipeline::ErrorFn& error, bool* out) {
  const json* v = Find(obj, key);
  if (v == nullptr || !v->is_boolean())
    return error(absl::StrCat(field, ".", key), "expected true or false");
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status Flatten(const json& p, const std::string& field,
                     const PreTokenizerPipeline::ErrorFn& error, std::vector<StageSpec>* out) {
  if (!p.is_object()) return error(field, "expected an object");
  const json* type = Find(p, "type");
  const std::string t = type != nullptr && type->is_string() ? type->get<std::string>() : "";
  if (t == "Sequence") {
    const json* list = Find(p, "pretokenizers");
    if (list == nullptr || !list->is_array()) {
      return error(field + ".pretokenizers", "missing or not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      RETURN_IF_ERROR(
          Flatten((*list)[i], absl::StrCat(field, ".pretokenizers[", i, "]"), error, out));
    }
    return absl::OkStatus();
  }
  StageSpec s;
  s.field = field;
  if (t == "ByteLevel") {
    s.byte_level = true;
    RETURN_IF_ERROR(RequiredBool(p, "add_prefix_space", field, error, &s.add_prefix_space));
    if (const json* v = Find(p, "use_regex"); v != nullptr) {
      if (!v->is_boolean()) return error(field + ".use_regex", "expected true or false");
      s.use_regex = v->get<bool>();
    }
    out->push_back(std::move(s));
    return absl::OkStatus();
  }
  if (t != "Split") {
    return error(field, absl::StrCat("unsupported pre-tokenizer type '", t,
                                     "' (supported: Sequence, Split, ByteLevel)"));
  }
  const json* pattern = Find(p, "pattern");
  const json* regex = pattern != nullptr ? Find(*pattern, "Regex") : nullptr;
  const json* literal = pattern != nullptr ? Find(*pattern, "String") : nullptr;
  if (regex != nullptr && regex->is_string()) {
    s.regex = regex->get<std::string>();
  } else if (literal != nullptr && literal->is_string()) {
    const std::string text = literal->get<std::string>();
    for (size_t i = 0; i < text.size();) {
      char32_t c;
      const int len = DecodeUtf8(text.data() + i, text.size() - i, &c);
      if (len == 0) return error(field + ".pattern.String", "not valid UTF-8");
      char buf[16];
      std::snprintf(buf, sizeof(buf), "\\x{%X}", static_cast<unsigned>(c));
      s.regex += buf;
      i += static_cast<size_t>(len);
    }
  } else {
    return error(field + ".pattern", "expected {\"Regex\": \"...\"} or {\"String\": \"...\"}");
  }
  static constexpr std::pair<const char*, SplitBehavior> kBehaviors[] = {
      {"Removed", SplitBehavior::kRemoved},
      {"Isolated", SplitBehavior::kIsolated},
      {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
      {"MergedWithNext", SplitBehavior::kMergedWithNext},
      {"Contiguous", SplitBehavior::kContiguous}};
  const json* behavior = Find(p, "behavior");
  bool known = false;
  for (const auto& [name, b] : kBehaviors) {
    if (behavior != nullptr && *behavior == name) {
      s.behavior = b;
      known = true;
    }
  }
  if (!known) {
    return error(field + ".behavior",
                 "expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
  }
  RETURN_IF_ERROR(RequiredBool(p, "invert", field, error, &s.invert));
  out->push_back(std::move(s));
  return absl::OkStatus();
}

// The canonical form of a regex (an error reads as no form: it then matches nothing known).
std::string Canonical(absl::string_view regex) {
  static const ClassSpellings* const explicit_spellings =
      new ClassSpellings(ExplicitClassSpellings());
  auto t = TranslateHfRegex(regex, *explicit_spellings);
  return t.ok() ? t->canonical : std::string();
}

bool IsDeepSeek(const std::vector<StageSpec>& stages) {
  static const std::vector<std::string>* const want = [] {
    auto* w = new std::vector<std::string>();
    for (absl::string_view r : kDeepSeekSplitRegexes) w->push_back(Canonical(r));
    return w;
  }();
  if (stages.size() != want->size() + 1) return false;
  for (size_t i = 0; i < want->size(); ++i) {
    const StageSpec& s = stages[i];
    if (s.byte_level || s.behavior != SplitBehavior::kIsolated || s.invert ||
        Canonical(s.regex) != (*want)[i]) {
      return false;
    }
  }
  const StageSpec& bl = stages.back();
  return bl.byte_level && !bl.add_prefix_space && !bl.use_regex;
}

}  // namespace

absl::Status RegexSplit::Apply(absl::string_view bytes, Piece in,
                               std::vector<Pcre2Regex::Match>* matches,
                               std::vector<Piece>* out) const {
  if (in.end <= in.begin) return absl::OkStatus();
  const absl::string_view text = bytes.substr(in.begin, in.end - in.begin);
  matches->clear();
  RETURN_IF_ERROR(regex_->FindAll(text, matches));
  // Hugging Face's find_matches: the matches and the gaps between them, covering the text.
  struct Span {
    uint32_t begin, end;
    bool match;
  };
  std::vector<Span> spans;
  spans.reserve(matches->size() * 2 + 1);
  uint32_t prev = 0;
  for (const Pcre2Regex::Match& m : *matches) {
    if (prev != m.begin) spans.push_back({prev, m.begin, invert_});
    spans.push_back({m.begin, m.end, !invert_});
    prev = m.end;
  }
  if (prev != text.size()) spans.push_back({prev, static_cast<uint32_t>(text.size()), invert_});

  auto emit = [&](uint32_t b, uint32_t e) {
    if (b < e) out->push_back({in.begin + b, in.begin + e});
  };
  switch (behavior_) {
    case SplitBehavior::kIsolated:
      for (const Span& s : spans) emit(s.begin, s.end);
      return absl::OkStatus();
    case SplitBehavior::kRemoved:
      for (const Span& s : spans) {
        if (!s.match) emit(s.begin, s.end);
      }
      return absl::OkStatus();
    case SplitBehavior::kMergedWithPrevious:
    case SplitBehavior::kContiguous: {
      // A match joins the piece before it (Contiguous: any span joins a previous span of the
      // same kind); the first span always starts a piece.
      std::vector<Span> acc;
      bool previous_match = false;
      for (const Span& s : spans) {
        const bool join = behavior_ == SplitBehavior::kContiguous ? s.match == previous_match
                                                                  : s.match && !previous_match;
        if (join && !acc.empty()) {
          acc.back().end = s.end;
        } else {
          acc.push_back(s);
        }
        previous_match = s.match;
      }
      for (const Span& s : acc) emit(s.begin, s.end);
      return absl::OkStatus();
    }
    case SplitBehavior::kMergedWithNext: {
      std::vector<Span> acc;  // built from the end
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !previous_match && !acc.empty()) {
          acc.back().begin = it->begin;
        } else {
          acc.push_back(*it);
        }
        previous_match = it->match;
      }
      for (auto it = acc.rbegin(); it != acc.rend(); ++it) emit(it->begin, it->end);
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PreTokenizerPipeline>> PreTokenizerPipeline::FromJson(
    const json* pre_tokenizer, const ErrorFn& error, bool regex_for_deepseek) {
  if (pre_tokenizer == nullptr) {
    return error("pre_tokenizer", "missing (a byte-level BPE needs a ByteLevel pre-tokenizer)");
  }
  std::vector<StageSpec> stages;
  RETURN_IF_ERROR(Flatten(*pre_tokenizer, "pre_tokenizer", error, &stages));
  for (size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].byte_level != (i + 1 == stages.size())) {
      return error(stages[i].field,
                   "unsupported: the pre-tokenizer must end with its only ByteLevel stage (the "
                   "model is a byte-level BPE)");
    }
  }
  if (stages.empty()) {
    return error("pre_tokenizer",
                 "unsupported: no ByteLevel stage (the model is a byte-level BPE)");
  }
  auto p = std::unique_ptr<PreTokenizerPipeline>(new PreTokenizerPipeline());
  p->is_deepseek_ = IsDeepSeek(stages);
  if (p->is_deepseek_ && !regex_for_deepseek) {
    p->hand_written_ = true;
    return p;
  }
  const StageSpec& bl = stages.back();
  p->add_prefix_space_ = bl.add_prefix_space;
  if (bl.use_regex) {
    ASSIGN_OR_RETURN(std::unique_ptr<Pcre2Regex> re, Pcre2Regex::Compile(kByteLevelRegex));
    p->byte_level_split_ =
        std::make_unique<RegexSplit>(std::move(re), SplitBehavior::kIsolated, false);
  }
  for (size_t i = 0; i + 1 < stages.size(); ++i) {
    const StageSpec& s = stages[i];
    auto re = Pcre2Regex::Compile(s.regex);
    if (!re.ok()) return error(s.field + ".pattern", re.status().message());
    p->splits_.push_back(std::make_unique<RegexSplit>(std::move(*re), s.behavior, s.invert));
  }
  return p;
}

absl::Status PreTokenizerPipeline::Run(absl::string_view text, PieceList* list) const {
  if (text.size() > (1u << 30)) {
    return absl::InvalidArgumentError("text too long for the pre-tokenizer (over 1 GiB)");
  }
  list->bytes.assign(text.data(), text.size());
  list->pieces.clear();
  if (hand_written_) {
    PreTokenizerScratch scratch;
    PreTokenize(text, &scratch, &list->pieces);
    return absl::OkStatus();
  }
  if (!text.empty()) list->pieces.push_back({0, static_cast<uint32_t>(text.size())});
  std::vector<Piece> next;
  std::vector<Pcre2Regex::Match> matches;
  for (const auto& split : splits_) {
    next.clear();
    for (const Piece& piece : list->pieces) {
      RETURN_IF_ERROR(split->Apply(list->bytes, piece, &matches, &next));
    }
    list->pieces.swap(next);
  }
  if (!add_prefix_space_ && byte_level_split_ == nullptr) return absl::OkStatus();
  next.clear();
  std::string copy;
  for (Piece piece : list->pieces) {
    if (add_prefix_space_ && list->bytes[piece.begin] != ' ') {
      copy.assign(" ");
      copy.append(list->bytes, piece.begin, piece.end - piece.begin);
      piece.begin = static_cast<uint32_t>(list->bytes.size());
      list->bytes.append(copy);
      piece.end = static_cast<uint32_t>(list->bytes.size());
    }
    if (byte_level_split_ != nullptr) {
      RETURN_IF_ERROR(byte_level_split_->Apply(list->bytes, piece, &matches, &next));
    } else {
      next.push_back(piece);
    }
  }
  list->pieces.swap(next);
  return absl::OkStatus();
}

}  // namespace r1::tok
