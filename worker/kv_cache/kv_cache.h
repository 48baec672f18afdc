// PagedKvCache: the absorbed-MLA latent cache (spec §6.7) on the host. Per layer and token one row
// of `row_size` values (kv_lora_rank latent after kv_a_layernorm, then qk_rope_head_dim roped key),
// stored in blocks of kBlockTokens tokens. Rows are float32; with `bf16_values` every stored value
// is rounded to bf16 first (what a BF16 device cache holds).
//
// Blocks are handed out by Allocate/Free; a sequence's blocks form its block table
// (KvSequence). Not thread-safe: the engine's step loop owns it.
#ifndef R1_WORKER_KV_CACHE_KV_CACHE_H_
#define R1_WORKER_KV_CACHE_KV_CACHE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace r1 {

inline constexpr int kBlockTokens = 64;

// A sequence's view of the cache: its blocks in position order and how many positions hold
// valid rows.
struct KvSequence {
  std::vector<int> blocks;
  int64_t length = 0;  // positions [0, length) are cached
  int64_t capacity() const { return static_cast<int64_t>(blocks.size()) * kBlockTokens; }
};

class PagedKvCache {
 public:
  // `hold_rows` false keeps only the block bookkeeping (a device cache holds the rows): Row and
  // Write must not be called then.
  PagedKvCache(int num_layers, int num_blocks, int row_size, bool bf16_values,
               bool hold_rows = true);

  int num_blocks() const { return num_blocks_; }
  int free_blocks() const { return static_cast<int>(free_.size()); }
  int row_size() const { return row_size_; }

  // Grows `seq` so that positions [0, tokens) have rows. ResourceExhausted (and no change) when
  // the free list is too short.
  absl::Status Reserve(KvSequence* seq, int64_t tokens);
  // Returns all of `seq`'s blocks to the free list and empties it.
  void Release(KvSequence* seq);

  float* Row(int layer, const KvSequence& seq, int64_t pos);
  const float* Row(int layer, const KvSequence& seq, int64_t pos) const;
  // Copies `row_size` values into the row (rounding to bf16 if configured).
  void Write(int layer, const KvSequence& seq, int64_t pos, const float* values);

 private:
  int num_layers_;
  int num_blocks_;
  int row_size_;
  bool bf16_values_;
  std::vector<float> data_;  // [layer][block][slot][row]
  std::vector<int> free_;
};

}  // namespace r1

#endif  // R1_WORKER_KV_CACHE_KV_CACHE_H_
