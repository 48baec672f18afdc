#include "coordinator/detok/incremental_detokenizer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/unicode.h"

namespace r1::detok {

IncrementalDetokenizer::IncrementalDetokenizer(const tok::Tokenizer* tokenizer,
                                               absl::flat_hash_set<int32_t> skip_ids)
    : tokenizer_(tokenizer), skip_ids_(std::move(skip_ids)) {}

absl::Status IncrementalDetokenizer::Append(absl::Span<const int32_t> ids, std::string* text) {
  for (int32_t id : ids) {
    if (!tokenizer_->IsValidId(id)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown token id ", id));
    }
    if (skip_ids_.contains(id)) continue;
    pending_.append(tokenizer_->TokenBytes(id).data(), tokenizer_->TokenBytes(id).size());
    const size_t used = tok::AppendUtf8Lossy(pending_, /*final=*/false, text);
    pending_.erase(0, used);
  }
  return absl::OkStatus();
}

void IncrementalDetokenizer::Finish(std::string* text) {
  tok::AppendUtf8Lossy(pending_, /*final=*/true, text);
  pending_.clear();
}

absl::flat_hash_set<int32_t> SpecialIdsExceptThink(const tok::Tokenizer& tokenizer) {
  absl::flat_hash_set<int32_t> ids;
  for (const tok::AddedToken& t : tokenizer.added_tokens()) {
    if (t.special && t.content != "<think>" && t.content != "</think>") ids.insert(t.id);
  }
  return ids;
}

}  // namespace r1::detok
