// Which forward steps CudaModel runs as CUDA graphs, padded to which shape, and the table of
// captured graphs with the rule for when one may replay (DESIGN.md §13: a decode step at small
// batch is launch-bound — R1's 61 layers launch ~2,000 kernels per step).
//
// A step qualifies when every token runs the absorbed attention (single-token items, or items with
// decode_attention and all_logits: the verification of draft tokens), every row of the batch goes
// through lm_head (so lm_head needs no row gather), and the batch has at most
// kMaxDecodeGraphTokens tokens. The MTP module's passes of one slot per sequence qualify the same
// way (graphs of their own: DecodeGraphKey::mtp). Its tokens are padded to a bucket
// (DecodeGraphTokens) by filler tokens that write and read a cache block reserved for them, so one
// graph serves every batch up to its bucket. Everything host-side — the metadata uploads,
// FlashInfer's plan, the expert exchange's step agreement, the token choice — runs eagerly around
// the replay; the graph holds the kernels from the embedding to lm_head.
//
// Pure (no CUDA): the CUDA side is decode_graphs.h.
#ifndef R1_WORKER_BACKEND_DECODE_GRAPH_PLAN_H_
#define R1_WORKER_BACKEND_DECODE_GRAPH_PLAN_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "worker/model/forward_model.h"

namespace r1 {

// The largest padded batch captured (larger steps run eagerly: they are GEMM-bound anyway).
inline constexpr int64_t kMaxDecodeGraphTokens = 512;

// The bucket a step of `tokens` tokens is padded to: 1, 2, 4, 8, then multiples of 16 to 128,
// of 32 to 256 and of 64 to 512 (20 graphs at most per other key; fewer than 16, 32 or 64
// filler tokens, at most 25% past 128 — a step below 128 tokens is bound by weight reads, not
// by its rows). 0 when tokens ≤ 0 or > kMaxDecodeGraphTokens.
int64_t DecodeGraphTokens(int64_t tokens);

// The sequence-length bound our MLA decode kernel is launched with inside a graph (its split
// count follows it): the next power of two ≥ max(max_len, 256), so a graph serves its sequences
// while they grow to that length.
int64_t DecodeGraphMaxLen(int64_t max_len);

// The block table's width (pages per token row) for sequences of up to `max_pages` blocks: a
// power of two ≥ 8, so that a growing context reallocates the table — and so re-captures the
// graphs that point into it — a logarithmic number of times.
int64_t DecodeGraphTableWidth(int64_t max_pages);

// Pads a step's token metadata to `tokens` with filler tokens: token 0 at position 0, each
// writing and attending to row 0 of `filler_block` (the same row: equal values). Nothing when
// `tokens` ≤ the tokens already there.
void PadWithFillers(BatchTokens* t, int64_t tokens, int64_t filler_block);

// Tokens of `items` when they qualify for a graph (see the header comment), else 0.
int64_t DecodeGraphStepTokens(const std::vector<ForwardItem>& items);

// What a captured graph baked in: a replay is exact only under the same key.
struct DecodeGraphKey {
  int64_t tokens = 0;           // padded batch (DecodeGraphTokens)
  int64_t max_len = 0;          // our MLA decode's length bound (0: FlashInfer's or none ran)
  int attention = 0;            // the MLA decode kernel (kernels::MlaDecodeBackend)
  uint64_t attention_plan = 0;  // FlashInfer's plan layout (FlashInferMlaDecode::layout_key)
  int64_t exchange = 0;         // the expert exchange's step key (0: no executor)
  bool mtp = false;             // the MTP module's pass, not the main model's layers
  bool operator==(const DecodeGraphKey& o) const {
    return tokens == o.tokens && max_len == o.max_len && attention == o.attention &&
           attention_plan == o.attention_plan && exchange == o.exchange && mtp == o.mtp;
  }
  template <typename H>
  friend H AbslHashValue(H h, const DecodeGraphKey& k) {
    return H::combine(std::move(h), k.tokens, k.max_len, k.attention, k.attention_plan, k.exchange,
                      k.mtp);
  }
};

// What to do with a qualifying step: DecodeGraphAction (worker/model/forward_model.h).

// The captured graphs by key, each valid for the buffer generation it was captured at: the model
// counts every reallocation of a buffer a graph may point into (its scratch, the attention
// workspace, the routed experts' scratch, the exchange's buffers), and a graph of another
// generation is destroyed, never replayed. A shape is captured the second time it is seen at one
// generation, after one eager run: that run grows every buffer the shape needs and gives
// libraries that initialise on first use (CUTLASS) their eager call. A key whose capture failed
// runs eagerly from then on. At most `capacity` graphs are kept; the least recently used goes.
//
// Handles are opaque (a cudaGraphExec_t); `destroy` frees one. Thread-compatible.
class DecodeGraphTable {
 public:
  using Handle = void*;
  DecodeGraphTable(int capacity, std::function<void(Handle)> destroy);
  ~DecodeGraphTable();
  DecodeGraphTable(const DecodeGraphTable&) = delete;
  DecodeGraphTable& operator=(const DecodeGraphTable&) = delete;

  // The action for a step with `key` at buffer generation `generation`; with kReplay, *handle is
  // the graph.
  DecodeGraphAction Lookup(const DecodeGraphKey& key, uint64_t generation, Handle* handle);
  // An eager run of `key` ended at `generation` (the shape is warm).
  void Warmed(const DecodeGraphKey& key, uint64_t generation);
  // `key` was captured into `handle` (owned from now on), valid at `generation`.
  void Captured(const DecodeGraphKey& key, uint64_t generation, Handle handle);
  // `key`'s capture failed: it runs eagerly from now on.
  void Failed(const DecodeGraphKey& key);
  // Destroys every graph (keeps nothing).
  void Clear();

  int64_t graphs() const;  // graphs held now
  int64_t captures() const { return captures_; }
  int64_t replays() const { return replays_; }
  int64_t failures() const { return failures_; }

 private:
  struct Entry {
    uint64_t warm_generation = 0;
    bool warm = false;
    bool failed = false;
    Handle graph = nullptr;
    uint64_t graph_generation = 0;
    int64_t last_use = 0;
  };
  void Drop(Entry& e);
  void EvictBeyondCapacity();

  int capacity_;
  std::function<void(Handle)> destroy_;
  absl::flat_hash_map<DecodeGraphKey, Entry> entries_;
  int64_t clock_ = 0;
  int64_t captures_ = 0, replays_ = 0, failures_ = 0;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_DECODE_GRAPH_PLAN_H_
