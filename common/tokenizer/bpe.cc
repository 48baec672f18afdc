#include "common/tokenizer/bpe.h"

#include <limits>
#include <queue>

#include "absl/hash/hash.h"

namespace r1::tok {
namespace {

constexpr uint32_t kNoRank = std::numeric_limits<uint32_t>::max();
// Pieces with more initial symbols than this use the heap; shorter ones a rank array scan.
constexpr size_t kLinearMaxSymbols = 48;

}  // namespace

BpeModel::BpeModel(const std::array<int32_t, 256>& byte_ids, const std::vector<Merge>& merges,
                   const std::vector<int32_t>& merged_ids, bool ignore_merges,
                   absl::flat_hash_map<std::string, int32_t> whole_pieces)
    : byte_ids_(byte_ids),
      ignore_merges_(ignore_merges),
      whole_pieces_(std::move(whole_pieces)),
      cache_(new CacheShard[kCacheShards]) {
  merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    merges_.insert_or_assign(Key(merges[i].left, merges[i].right),
                             MergeInfo{static_cast<uint32_t>(i), merged_ids[i]});
  }
}

void BpeModel::Encode(absl::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    auto it = whole_pieces_.find(piece);
    if (it != whole_pieces_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  if (piece.size() == 1) {
    int32_t id = byte_ids_[static_cast<unsigned char>(piece[0])];
    if (id >= 0) out->push_back(id);
    return;
  }
  if (piece.size() > kMaxCachedPieceBytes) {
    EncodeUncached(piece, false, out);
    return;
  }
  CacheShard& shard = cache_[absl::Hash<absl::string_view>()(piece) % kCacheShards];
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.map.find(piece);
    if (it != shard.map.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t before = out->size();
  EncodeUncached(piece, false, out);
  std::vector<int32_t> ids(out->begin() + static_cast<std::ptrdiff_t>(before), out->end());
  absl::MutexLock lock(&shard.mu);
  if (shard.map.size() >= kCacheEntriesPerShard) shard.map.clear();
  shard.map.emplace(std::string(piece), std::move(ids));
}

void BpeModel::EncodeUncached(absl::string_view piece, bool force_heap,
                              std::vector<int32_t>* out) const {
  std::vector<int32_t> syms;
  syms.reserve(piece.size());
  for (unsigned char b : piece) {
    if (byte_ids_[b] >= 0) syms.push_back(byte_ids_[b]);
  }
  if (force_heap || syms.size() > kLinearMaxSymbols) {
    MergeHeap(&syms);
  } else {
    MergeLinear(&syms);
  }
  out->insert(out->end(), syms.begin(), syms.end());
}

// Short pieces: keep the rank of every adjacent pair; each step merges the lowest rank (the
// leftmost among equals) and refreshes the two pairs around the merge.
void BpeModel::MergeLinear(std::vector<int32_t>* syms_ptr) const {
  std::vector<int32_t>& syms = *syms_ptr;
  if (syms.size() < 2) return;
  uint32_t ranks[kLinearMaxSymbols];
  int32_t new_ids[kLinearMaxSymbols];
  auto refresh = [&](size_t p) {
    const MergeInfo* m = FindMerge(syms[p], syms[p + 1]);
    ranks[p] = m ? m->rank : kNoRank;
    new_ids[p] = m ? m->new_id : -1;
  };
  size_t n = syms.size();
  for (size_t p = 0; p + 1 < n; ++p) refresh(p);
  while (n > 1) {
    size_t best = 0;
    for (size_t p = 1; p + 1 < n; ++p) {
      if (ranks[p] < ranks[best]) best = p;
    }
    if (ranks[best] == kNoRank) break;
    syms[best] = new_ids[best];
    for (size_t p = best + 1; p + 1 < n; ++p) {
      syms[p] = syms[p + 1];
      ranks[p] = ranks[p + 1];
      new_ids[p] = new_ids[p + 1];
    }
    --n;
    if (best + 1 < n) refresh(best);
    if (best > 0) refresh(best - 1);
  }
  syms.resize(n);
}

// Long pieces: Hugging Face's Word::merge_all — a min-heap of (rank, position) over a doubly
// linked list of symbols; stale entries are recognised and skipped when popped.
void BpeModel::MergeHeap(std::vector<int32_t>* syms_ptr) const {
  std::vector<int32_t>& syms = *syms_ptr;
  const size_t n = syms.size();
  if (n < 2) return;
  std::vector<int64_t> prev(n), next(n);
  std::vector<bool> removed(n, false);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int64_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int64_t>(i + 1) : -1;
  }
  struct Entry {
    uint32_t rank;
    size_t pos;
    int32_t new_id;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (const MergeInfo* m = FindMerge(syms[i], syms[i + 1])) queue.push({m->rank, i, m->new_id});
  }
  while (!queue.empty()) {
    const Entry top = queue.top();
    queue.pop();
    if (removed[top.pos] || next[top.pos] < 0) continue;
    const auto right = static_cast<size_t>(next[top.pos]);
    const MergeInfo* m = FindMerge(syms[top.pos], syms[right]);
    if (m == nullptr || m->new_id != top.new_id) continue;  // expired entry
    syms[top.pos] = top.new_id;
    removed[right] = true;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[static_cast<size_t>(next[right])] = static_cast<int64_t>(top.pos);
    if (prev[top.pos] >= 0) {
      const auto p = static_cast<size_t>(prev[top.pos]);
      if (const MergeInfo* pm = FindMerge(syms[p], syms[top.pos])) {
        queue.push({pm->rank, p, pm->new_id});
      }
    }
    if (next[top.pos] >= 0) {
      const auto q = static_cast<size_t>(next[top.pos]);
      if (const MergeInfo* nm = FindMerge(syms[top.pos], syms[q])) {
        queue.push({nm->rank, top.pos, nm->new_id});
      }
    }
  }
  size_t w = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!removed[i]) syms[w++] = syms[i];
  }
  syms.resize(w);
}

}  // namespace r1::tok
