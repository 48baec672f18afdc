// PagedKvCache: the absorbed-MLA latent cache (spec §6.7) on the host. Per layer and token one row
// of `row_size` values (kv_lora_rank latent after kv_a_layernorm, then qk_rope_head_dim roped key),
// stored in blocks of kBlockTokens tokens. Rows are float32; with `bf16_values` every stored value
// is rounded to bf16 first (what a BF16 device cache holds).
//
// Blocks are handed out by Reserve and given back by Release; a sequence's blocks form its block
// table (KvSequence). Every block has a reference count (the block tables holding it).
//
// Prefix caching (optional, used by calling RegisterFullBlocks/AcquirePrefix): a full block whose
// rows are computed is registered under its chained content hash (common/kv_block_hash.h). A new
// sequence whose tokens start with registered blocks takes them into its block table (no copy; one
// more reference each). Full blocks are never written again, so sharing them is safe. A registered
// block whose count drops to 0 stays cached, evictable: Reserve takes uncached free blocks first,
// then evicts the least recently released cached ones. Not thread-safe: the engine's step loop
// owns it.
#ifndef R1_WORKER_KV_CACHE_KV_CACHE_H_
#define R1_WORKER_KV_CACHE_KV_CACHE_H_

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "common/kv_block_hash.h"  // kBlockTokens, the block hashes

namespace r1 {

// A sequence's view of the cache: its blocks in position order and how many positions hold
// valid rows.
struct KvSequence {
  std::vector<int> blocks;
  int64_t length = 0;  // positions [0, length) are cached
  // Prefix caching: the chained content hashes of blocks [0, block_hashes.size()), all full.
  std::vector<uint64_t> block_hashes;
  int64_t capacity() const { return static_cast<int64_t>(blocks.size()) * kBlockTokens; }
};

class PagedKvCache {
 public:
  // `hold_rows` false keeps only the block bookkeeping (a device cache holds the rows): Row and
  // Write must not be called then.
  PagedKvCache(int num_layers, int num_blocks, int row_size, bool bf16_values,
               bool hold_rows = true);

  int num_blocks() const { return num_blocks_; }
  // Blocks Reserve can hand out: unreferenced ones, cached (evictable) or not.
  int free_blocks() const { return static_cast<int>(free_.size() + lru_.size()); }
  // Registered blocks (referenced or not) and those of them no sequence references.
  int cached_blocks() const { return static_cast<int>(by_hash_.size()); }
  int evictable_blocks() const { return static_cast<int>(lru_.size()); }
  int ref_count(int block) const { return refs_[block]; }
  int row_size() const { return row_size_; }

  // Grows `seq` so that positions [0, tokens) have rows. ResourceExhausted (and no change) when
  // the free blocks are too few.
  absl::Status Reserve(KvSequence* seq, int64_t tokens);
  // Drops `seq`'s reference to each of its blocks and empties it. A block nobody references any
  // more is free again; a registered one stays cached until evicted (a sequence's later blocks
  // are evicted before its earlier ones).
  void Release(KvSequence* seq);

  // Prefix caching. Registers every full block of `seq` with computed rows (positions below
  // seq->length) that is not yet in seq->block_hashes, hashing `tokens` (seq's tokens, at least
  // seq->length of them). A block whose hash is already registered (another block holds the same
  // prefix) stays unregistered.
  void RegisterFullBlocks(KvSequence* seq, const std::vector<int>& tokens);
  // Prefix caching. For an empty `seq`: takes the registered blocks holding the longest prefix of
  // `tokens` made of full blocks, leaving at least the last token to compute (at most
  // (tokens.size() − 1) / kBlockTokens blocks); one more reference each, seq->length set after
  // them. Returns the number of tokens reused (a multiple of kBlockTokens).
  int64_t AcquirePrefix(KvSequence* seq, const std::vector<int>& tokens);

  float* Row(int layer, const KvSequence& seq, int64_t pos);
  const float* Row(int layer, const KvSequence& seq, int64_t pos) const;
  // Copies `row_size` values into the row (rounding to bf16 if configured).
  void Write(int layer, const KvSequence& seq, int64_t pos, const float* values);

 private:
  // A free block (ref count 1 on return): an uncached one, else the least recently used cached
  // one, unregistered. Requires free_blocks() > 0.
  int TakeBlock();
  void Unregister(int block);

  int num_layers_;
  int num_blocks_;
  int row_size_;
  bool bf16_values_;
  std::vector<float> data_;  // [layer][block][slot][row]
  std::vector<int> free_;    // unreferenced, not registered
  std::vector<int> refs_;    // [block]
  // Registered blocks: hash -> block, and per block its hash, its parent's hash and its tokens
  // ([block][kBlockTokens], allocated at the first registration).
  std::unordered_map<uint64_t, int> by_hash_;
  std::vector<char> registered_;
  std::vector<uint64_t> hash_;
  std::vector<uint64_t> parent_hash_;
  std::vector<int> tokens_;
  // Registered blocks with no references, least recently released first; lru_pos_[block] is
  // valid while the block is in lru_.
  std::list<int> lru_;
  std::vector<std::list<int>::iterator> lru_pos_;
};

}  // namespace r1

#endif  // R1_WORKER_KV_CACHE_KV_CACHE_H_
