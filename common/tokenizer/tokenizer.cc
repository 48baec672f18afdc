#include "common/tokenizer/tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tokenizer/normalizer.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "common/tokenizer/pre_tokenizer_pipeline.h"
#include "common/tokenizer/unicode.h"

namespace r1::tok {

// Buffers one Encode call reuses.
struct Tokenizer::EncodeScratch {
  PreTokenizerScratch pre;
  std::vector<Piece> pieces;
  PieceList list;
  std::string normalized;
  std::vector<Segment> sub_segments;
};

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

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
  if (normalizer_ == nullptr) {
    matcher_->Split(text, options.added_tokens, &segments);
  } else {
    matcher_->SplitRaw(text, options.added_tokens, &segments);
  }
  EncodeScratch scratch;
  for (const Segment& seg : segments) {
    if (seg.token >= 0) {
      out->push_back(added_[static_cast<size_t>(seg.token)].id);
      continue;
    }
    const absl::string_view part = text.substr(seg.begin, seg.end - seg.begin);
    if (normalizer_ == nullptr) {
      RETURN_IF_ERROR(EncodePlain(part, &scratch, out));
      continue;
    }
    scratch.normalized.clear();
    normalizer_->Normalize(part, &scratch.normalized);
    scratch.sub_segments.clear();
    matcher_->SplitNormalized(scratch.normalized, options.added_tokens, &scratch.sub_segments);
    const absl::string_view normalized = scratch.normalized;  // EncodePlain leaves it alone
    for (const Segment& sub : scratch.sub_segments) {
      if (sub.token >= 0) {
        out->push_back(added_[static_cast<size_t>(sub.token)].id);
      } else {
        RETURN_IF_ERROR(
            EncodePlain(normalized.substr(sub.begin, sub.end - sub.begin), &scratch, out));
      }
    }
  }
  if (options.add_special_tokens) out->insert(out->end(), suffix_ids_.begin(), suffix_ids_.end());
  return absl::OkStatus();
}

absl::Status Tokenizer::EncodePlain(absl::string_view text, EncodeScratch* scratch,
                                    std::vector<int32_t>* out) const {
  if (deepseek_fast_path_) {
    scratch->pieces.clear();
    ::r1::tok::PreTokenize(text, &scratch->pre, &scratch->pieces);
    for (const Piece& p : scratch->pieces) bpe_->Encode(text.substr(p.begin, p.end - p.begin), out);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(pre_tokenizer_->Run(text, &scratch->list));
  const absl::string_view bytes = scratch->list.bytes;
  for (const Piece& p : scratch->list.pieces) {
    bpe_->Encode(bytes.substr(p.begin, p.end - p.begin), out);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Tokenizer::PreTokenize(absl::string_view text) const {
  if (text.size() > kMaxEncodeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("text of ", text.size(), " bytes exceeds the limit of ", kMaxEncodeBytes));
  }
  if (size_t bad = FindInvalidUtf8(text); bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8 (at byte offset ", bad, ")"));
  }
  std::string normalized;
  if (normalizer_ != nullptr) {
    normalizer_->Normalize(text, &normalized);
    text = normalized;
  }
  PieceList list;
  RETURN_IF_ERROR(pre_tokenizer_->Run(text, &list));
  std::vector<std::string> pieces;
  pieces.reserve(list.pieces.size());
  for (const Piece& p : list.pieces) pieces.push_back(list.bytes.substr(p.begin, p.end - p.begin));
  return pieces;
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
