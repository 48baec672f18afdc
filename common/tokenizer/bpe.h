// Byte-level BPE model: turns one pre-tokenized piece (raw bytes) into token ids by applying
// merges in rank order, exactly as Hugging Face tokenizers' BPE model does (lowest rank first,
// leftmost first among equal ranks; bytes without a vocabulary entry are dropped, as there is no
// unk token).
//
// Immutable after construction except for an internal bounded cache of piece -> ids; all const
// methods are thread-safe (the cache is sharded and mutex-guarded).
#ifndef R1_COMMON_TOKENIZER_BPE_H_
#define R1_COMMON_TOKENIZER_BPE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace r1::tok {

class BpeModel {
 public:
  struct Merge {
    int32_t left;
    int32_t right;
  };

  // `byte_ids[b]` is the id of the single-byte token for byte b, or -1. `merges` in rank order
  // (rank = index); `merged_ids[i]` is the id of the concatenation of merges[i]. A later duplicate
  // of a pair replaces the earlier one, as in Hugging Face. With `ignore_merges`, a piece that is
  // itself in `whole_pieces` (raw bytes -> id) becomes that one token without merging.
  BpeModel(const std::array<int32_t, 256>& byte_ids, const std::vector<Merge>& merges,
           const std::vector<int32_t>& merged_ids, bool ignore_merges,
           absl::flat_hash_map<std::string, int32_t> whole_pieces);

  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of `piece` (raw bytes) to *out.
  void Encode(absl::string_view piece, std::vector<int32_t>* out) const;

  // The merge algorithm without the cache; `force_heap` selects the O(n log n) path that long
  // pieces use (tests check both paths agree).
  void EncodeUncached(absl::string_view piece, bool force_heap, std::vector<int32_t>* out) const;

 private:
  struct MergeInfo {
    uint32_t rank;
    int32_t new_id;
  };
  static uint64_t Key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const MergeInfo* FindMerge(int32_t a, int32_t b) const {
    auto it = merges_.find(Key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  }
  void MergeLinear(std::vector<int32_t>* syms) const;
  void MergeHeap(std::vector<int32_t>* syms) const;

  std::array<int32_t, 256> byte_ids_;
  absl::flat_hash_map<uint64_t, MergeInfo> merges_;
  bool ignore_merges_;
  absl::flat_hash_map<std::string, int32_t> whole_pieces_;

  // Piece -> ids cache, like Hugging Face's (pieces up to kMaxCachedPieceBytes, bounded entries).
  static constexpr int kCacheShards = 16;
  static constexpr size_t kCacheEntriesPerShard = 4096;
  static constexpr size_t kMaxCachedPieceBytes = 256;
  struct CacheShard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::vector<int32_t>> map ABSL_GUARDED_BY(mu);
  };
  std::unique_ptr<CacheShard[]> cache_;
};

}  // namespace r1::tok

#endif  // R1_COMMON_TOKENIZER_BPE_H_
