#include "worker/kv_cache/kv_cache.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/numeric.h"

namespace r1 {

PagedKvCache::PagedKvCache(int num_layers, int num_blocks, int row_size, bool bf16_values,
                           bool hold_rows)
    : num_layers_(num_layers),
      num_blocks_(num_blocks),
      row_size_(row_size),
      bf16_values_(bf16_values),
      data_(hold_rows ? static_cast<size_t>(num_layers) * num_blocks * kBlockTokens * row_size : 0,
            0.0f) {
  free_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

absl::Status PagedKvCache::Reserve(KvSequence* seq, int64_t tokens) {
  const int64_t need_blocks = (tokens + kBlockTokens - 1) / kBlockTokens;
  const int64_t extra = need_blocks - static_cast<int64_t>(seq->blocks.size());
  if (extra <= 0) return absl::OkStatus();
  if (extra > static_cast<int64_t>(free_.size())) {
    return absl::ResourceExhaustedError(
        absl::StrCat("kv cache: need ", extra, " blocks, ", free_.size(), " free"));
  }
  for (int64_t i = 0; i < extra; ++i) {
    seq->blocks.push_back(free_.back());
    free_.pop_back();
  }
  return absl::OkStatus();
}

void PagedKvCache::Release(KvSequence* seq) {
  for (int b : seq->blocks) free_.push_back(b);
  seq->blocks.clear();
  seq->length = 0;
}

float* PagedKvCache::Row(int layer, const KvSequence& seq, int64_t pos) {
  const int block = seq.blocks[pos / kBlockTokens];
  const size_t index =
      ((static_cast<size_t>(layer) * num_blocks_ + block) * kBlockTokens + pos % kBlockTokens) *
      row_size_;
  return data_.data() + index;
}

const float* PagedKvCache::Row(int layer, const KvSequence& seq, int64_t pos) const {
  return const_cast<PagedKvCache*>(this)->Row(layer, seq, pos);
}

void PagedKvCache::Write(int layer, const KvSequence& seq, int64_t pos, const float* values) {
  float* row = Row(layer, seq, pos);
  if (!bf16_values_) {
    std::memcpy(row, values, sizeof(float) * row_size_);
    return;
  }
  for (int i = 0; i < row_size_; ++i) row[i] = RoundToBf16(values[i]);
}

}  // namespace r1
