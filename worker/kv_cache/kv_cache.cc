#include "worker/kv_cache/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/kv_block_hash.h"
#include "common/numeric.h"

namespace r1 {

PagedKvCache::PagedKvCache(int num_layers, int num_blocks, int row_size, bool bf16_values,
                           bool hold_rows)
    : num_layers_(num_layers),
      num_blocks_(num_blocks),
      row_size_(row_size),
      bf16_values_(bf16_values),
      data_(hold_rows ? static_cast<size_t>(num_layers) * num_blocks * kBlockTokens * row_size : 0,
            0.0f),
      refs_(num_blocks, 0),
      registered_(num_blocks, 0),
      hash_(num_blocks, 0),
      parent_hash_(num_blocks, 0),
      lru_pos_(num_blocks) {
  free_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

void PagedKvCache::Unregister(int block) {
  by_hash_.erase(hash_[block]);
  registered_[block] = 0;
}

int PagedKvCache::TakeBlock() {
  int b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    b = lru_.front();
    lru_.pop_front();
    Unregister(b);
  }
  refs_[b] = 1;
  return b;
}

absl::Status PagedKvCache::Reserve(KvSequence* seq, int64_t tokens) {
  const int64_t need_blocks = (tokens + kBlockTokens - 1) / kBlockTokens;
  const int64_t extra = need_blocks - static_cast<int64_t>(seq->blocks.size());
  if (extra <= 0) return absl::OkStatus();
  if (extra > free_blocks()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("kv cache: need ", extra, " blocks, ", free_blocks(), " free"));
  }
  for (int64_t i = 0; i < extra; ++i) seq->blocks.push_back(TakeBlock());
  return absl::OkStatus();
}

void PagedKvCache::Release(KvSequence* seq) {
  // Last block first: of a released prefix, the later blocks are evicted first (they are useless
  // without the earlier ones).
  for (auto it = seq->blocks.rbegin(); it != seq->blocks.rend(); ++it) {
    const int b = *it;
    if (--refs_[b] > 0) continue;
    if (registered_[b]) {
      lru_pos_[b] = lru_.insert(lru_.end(), b);
    } else {
      free_.push_back(b);
    }
  }
  seq->blocks.clear();
  seq->block_hashes.clear();
  seq->length = 0;
}

void PagedKvCache::RegisterFullBlocks(KvSequence* seq, const std::vector<int>& tokens) {
  const int64_t full =
      std::min<int64_t>(seq->length, static_cast<int64_t>(tokens.size())) / kBlockTokens;
  if (tokens_.empty() && full > static_cast<int64_t>(seq->block_hashes.size())) {
    tokens_.assign(static_cast<size_t>(num_blocks_) * kBlockTokens, 0);
  }
  for (int64_t i = static_cast<int64_t>(seq->block_hashes.size()); i < full; ++i) {
    const uint64_t parent = i == 0 ? kRootBlockHash : seq->block_hashes[i - 1];
    const int* block_tokens = tokens.data() + i * kBlockTokens;
    const uint64_t h = HashKvBlock(parent, block_tokens);
    seq->block_hashes.push_back(h);
    const int b = seq->blocks[i];
    if (registered_[b] || !by_hash_.emplace(h, b).second) continue;
    registered_[b] = 1;
    hash_[b] = h;
    parent_hash_[b] = parent;
    std::copy(block_tokens, block_tokens + kBlockTokens,
              tokens_.begin() + static_cast<size_t>(b) * kBlockTokens);
  }
}

int64_t PagedKvCache::AcquirePrefix(KvSequence* seq, const std::vector<int>& tokens) {
  if (!seq->blocks.empty() || tokens.empty() || by_hash_.empty()) return 0;
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / kBlockTokens;
  uint64_t parent = kRootBlockHash;
  for (int64_t i = 0; i < max_blocks; ++i) {
    const int* block_tokens = tokens.data() + i * kBlockTokens;
    const uint64_t h = HashKvBlock(parent, block_tokens);
    auto found = by_hash_.find(h);
    if (found == by_hash_.end()) break;
    const int b = found->second;
    // A hash collision must not hand out another prefix's rows.
    if (parent_hash_[b] != parent ||
        !std::equal(block_tokens, block_tokens + kBlockTokens,
                    tokens_.begin() + static_cast<size_t>(b) * kBlockTokens)) {
      break;
    }
    if (refs_[b]++ == 0) lru_.erase(lru_pos_[b]);
    seq->blocks.push_back(b);
    seq->block_hashes.push_back(h);
    parent = h;
  }
  seq->length = seq->capacity();
  return seq->length;
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
