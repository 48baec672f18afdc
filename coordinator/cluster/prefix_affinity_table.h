// PrefixAffinityTable: for prefix-aware routing, which worker the coordinator last routed a prompt
// containing each KV block to. Keys are the chained block hashes of common/kv_block_hash.h (the
// ones the workers' prefix caches use), so a hit on block i stands for the whole prefix of blocks
// 0..i. Values are owner keys: opaque non-zero numbers the caller gives each worker incarnation
// (ClusterState: one per group assignment, since a new assignment starts an empty KV cache).
//
// Bounded: at most `capacity` block hashes, least recently used evicted first. The table is split
// into shards by block hash, each with its own mutex and LRU list, so the recency order (and
// eviction) is exact per shard and approximate over the whole table. An entry costs about 40
// bytes (1M entries: ~40 MiB). Owners that went away are not removed: the caller ignores owners
// that no longer serve when it reads a match, Record overwrites them, and the LRU ages them out.
//
// Thread-safe: every call locks the shard of each block it touches, one at a time, for a hash
// lookup; no call holds two locks, and none calls out.
#ifndef R1_COORDINATOR_CLUSTER_PREFIX_AFFINITY_TABLE_H_
#define R1_COORDINATOR_CLUSTER_PREFIX_AFFINITY_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"

namespace r1 {

class PrefixAffinityTable {
 public:
  // `capacity` >= 1 block hashes in all, split over min(`shards`, capacity) shards.
  explicit PrefixAffinityTable(size_t capacity, int shards = 16);
  ~PrefixAffinityTable();
  PrefixAffinityTable(const PrefixAffinityTable&) = delete;
  PrefixAffinityTable& operator=(const PrefixAffinityTable&) = delete;

  // `hashes`: a prompt's chained block hashes, block 0 first. Returns the owners of the longest
  // run of them present from block 0 (result[i]: the owner block i was last recorded with; the
  // result stops before the first block absent). The blocks found become the most recently used.
  std::vector<uint64_t> Match(absl::Span<const uint64_t> hashes);
  // Records `owner` (non-zero) as the last owner of every block of `hashes`, adding the absent
  // ones (evicting the least recently used past the capacity) and refreshing the present ones.
  void Record(absl::Span<const uint64_t> hashes, uint64_t owner);

  size_t capacity() const { return capacity_; }
  // Block hashes held now (a snapshot when other threads call in).
  size_t size() const;

 private:
  struct Shard;
  Shard& ShardOf(uint64_t hash) const;

  size_t capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace r1

#endif  // R1_COORDINATOR_CLUSTER_PREFIX_AFFINITY_TABLE_H_
