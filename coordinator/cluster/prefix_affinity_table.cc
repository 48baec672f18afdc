#include "coordinator/cluster/prefix_affinity_table.h"

#include <algorithm>
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace r1 {
namespace {

constexpr uint32_t kNone = 0xffffffffu;

}  // namespace

// One shard: a hash index into a slab of entries threaded on an intrusive doubly linked LRU list
// (head: most recently used). The slab grows to the shard's capacity and is then reused in place.
struct PrefixAffinityTable::Shard {
  struct Entry {
    uint64_t hash = 0;
    uint64_t owner = 0;
    uint32_t prev = kNone;
    uint32_t next = kNone;
  };

  explicit Shard(size_t cap) : capacity(cap) {}

  void Unlink(uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Entry& e = entries[i];
    if (e.prev != kNone)
      entries[e.prev].next = e.next;
    else
      head = e.next;
    if (e.next != kNone)
      entries[e.next].prev = e.prev;
    else
      tail = e.prev;
    e.prev = e.next = kNone;
  }
  void PushFront(uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Entry& e = entries[i];
    e.prev = kNone;
    e.next = head;
    if (head != kNone) entries[head].prev = i;
    head = i;
    if (tail == kNone) tail = i;
  }
  void Touch(uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (head == i) return;
    Unlink(i);
    PushFront(i);
  }

  const size_t capacity;
  mutable absl::Mutex mu;
  absl::flat_hash_map<uint64_t, uint32_t> index ABSL_GUARDED_BY(mu);
  std::vector<Entry> entries ABSL_GUARDED_BY(mu);
  uint32_t head ABSL_GUARDED_BY(mu) = kNone;
  uint32_t tail ABSL_GUARDED_BY(mu) = kNone;
};

PrefixAffinityTable::PrefixAffinityTable(size_t capacity, int shards)
    : capacity_(std::max<size_t>(capacity, 1)) {
  const size_t n = std::min(static_cast<size_t>(std::max(shards, 1)), capacity_);
  for (size_t i = 0; i < n; ++i) {
    // The remainder goes to the first shards: the capacities add up to capacity_.
    shards_.push_back(std::make_unique<Shard>(capacity_ / n + (i < capacity_ % n ? 1 : 0)));
  }
}

PrefixAffinityTable::~PrefixAffinityTable() = default;

PrefixAffinityTable::Shard& PrefixAffinityTable::ShardOf(uint64_t hash) const {
  // The block hashes are well mixed; the high bits pick the shard, the map uses its own hash.
  return *shards_[(hash >> 32) % shards_.size()];
}

std::vector<uint64_t> PrefixAffinityTable::Match(absl::Span<const uint64_t> hashes) {
  std::vector<uint64_t> owners;
  for (uint64_t h : hashes) {
    Shard& s = ShardOf(h);
    absl::MutexLock lock(&s.mu);
    auto it = s.index.find(h);
    if (it == s.index.end()) break;
    s.Touch(it->second);
    owners.push_back(s.entries[it->second].owner);
  }
  return owners;
}

void PrefixAffinityTable::Record(absl::Span<const uint64_t> hashes, uint64_t owner) {
  for (uint64_t h : hashes) {
    Shard& s = ShardOf(h);
    absl::MutexLock lock(&s.mu);
    auto it = s.index.find(h);
    if (it != s.index.end()) {
      s.entries[it->second].owner = owner;
      s.Touch(it->second);
      continue;
    }
    uint32_t i;
    if (s.entries.size() < s.capacity) {
      i = static_cast<uint32_t>(s.entries.size());
      s.entries.emplace_back();
    } else {
      i = s.tail;  // the least recently used entry makes room
      s.Unlink(i);
      s.index.erase(s.entries[i].hash);
    }
    s.entries[i].hash = h;
    s.entries[i].owner = owner;
    s.index.emplace(h, i);
    s.PushFront(i);
  }
}

size_t PrefixAffinityTable::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    absl::MutexLock lock(&s->mu);
    n += s->index.size();
  }
  return n;
}

}  // namespace r1
