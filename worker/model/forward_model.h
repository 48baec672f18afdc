// ForwardModel: what the Engine needs of a backend's model — its config, its KV row width and a
// batched Forward over paged sequences. CpuModel (host cache rows) and the CUDA backend's engine
// adapter (device cache; the PagedKvCache only hands out block ids) implement it.
#ifndef R1_WORKER_MODEL_FORWARD_MODEL_H_
#define R1_WORKER_MODEL_FORWARD_MODEL_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "worker/kv_cache/kv_cache.h"
#include "worker/model/token_choice.h"

namespace r1 {

// One sequence's share of a step: `tokens` at absolute positions [start, start + tokens.size()).
struct ForwardItem {
  KvSequence* kv = nullptr;  // borrowed; must have capacity for start + tokens.size()
  std::vector<int> tokens;
  int64_t start = 0;
  bool all_logits = false;  // logits for every position, else only the last
  // For ForwardAndChoose: how to choose the token after the last position (borrowed); null for
  // an item that needs none (a prefill chunk that does not end its prompt).
  const TokenChoiceSpec* choose = nullptr;
  // Attention computed for every position as for a single decode token (the CPU model's absorbed
  // form), so that verifying draft tokens gives each position the logits a plain decode would.
  bool decode_attention = false;
  // Nullable. With a model that has MTP (mtp_layers() > 0): gets the final hidden states after
  // model.norm, [tokens.size()][hidden_size], the MTP module's input (spec §10).
  std::vector<float>* hidden = nullptr;
};

// One sequence's share of an MTP forward (spec §10): slots at positions [start, start + m), slot
// p from the main model's final hidden state h_p and the token t_{p+1} after it; slot p's output
// predicts t_{p+2}. The MTP layer's rows of those positions are written to the cache (its layer
// index is num_hidden_layers); kv->length is not changed (the caller tracks which MTP rows are
// valid: every slot reads the MTP rows of positions [0, p]).
struct MtpItem {
  KvSequence* kv = nullptr;  // borrowed; capacity for start + m
  int64_t start = 0;
  std::vector<int> next_tokens;   // m tokens: t_{start+1} .. t_{start+m}
  const float* hidden = nullptr;  // borrowed: [m][hidden_size] final hidden states h_start..
};

// How a forward's kernels were launched by a backend that can run a step as a CUDA graph
// (worker/backend/decode_graph_plan.h).
enum class DecodeGraphAction {
  kEager,    // each kernel launched (a shape's first sighting warms it up; or capture failed)
  kCapture,  // captured into a graph now, then replayed
  kReplay,   // a graph captured earlier, replayed
};

class ForwardModel {
 public:
  virtual ~ForwardModel() = default;
  virtual const ModelConfig& config() const = 0;
  virtual int row_size() const = 0;  // KV row: kv_lora_rank + qk_rope_head_dim
  // Whether Forward reads and writes the PagedKvCache's rows (false: only its block ids).
  virtual bool uses_host_cache_rows() const { return true; }
  // Runs the batch; `logits[i]` gets [rows][vocab] for item i (rows = tokens with all_logits,
  // else 1). Positions [start, start+T) of each item are cached and kv->length advanced.
  virtual absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                               std::vector<std::vector<float>>* logits) = 0;
  // Runs the batch and chooses a token from each of its logits rows as the item's `choose` says
  // (token_choice.h): one row per item, or one per token for an item with all_logits (draft
  // verification: its spec must be plain greedy, CheckItemsForChoice). `chosen` gets one entry
  // per row, items in order; entries of items without a spec are empty. Ids ≥ valid_vocab are
  // never chosen. This default runs Forward and chooses on the host; a device backend overrides
  // it to keep the logits on the device.
  virtual absl::Status ForwardAndChoose(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                        int64_t valid_vocab, std::vector<TokenChoice>* chosen);

  // MTP modules this model runs (0: none; then ForwardItem::hidden is ignored and MtpForward
  // fails). The PagedKvCache then needs num_hidden_layers + mtp_layers() layers.
  virtual int mtp_layers() const { return 0; }
  // Runs the MTP module over the items' slots: `logits[i]` gets the [vocab] row of item i's last
  // slot (its draft for t_{start+m+1}) and `hidden[i]` that slot's output after
  // shared_head.norm ([hidden_size]), the hidden state a chained draft feeds back.
  virtual absl::Status MtpForward(const std::vector<MtpItem>& items, PagedKvCache& cache,
                                  std::vector<std::vector<float>>* logits,
                                  std::vector<std::vector<float>>* hidden);
  // As MtpForward, but `drafts[i]` gets item i's greedy draft — the first id of the largest
  // logit among ids [0, valid_vocab) of its last slot — instead of the logits row. The default
  // runs MtpForward and takes the argmax on the host; a device backend chooses where the logits
  // are and copies only ids.
  // How the last Forward or ForwardAndChoose launched its kernels; nullopt for a model that
  // never runs graphs (every CPU model).
  virtual std::optional<DecodeGraphAction> last_decode_graph() const { return std::nullopt; }

  virtual absl::Status MtpDraft(const std::vector<MtpItem>& items, PagedKvCache& cache,
                                int64_t valid_vocab, std::vector<int>* drafts,
                                std::vector<std::vector<float>>* hidden);
};

// The MTP items as forward items (kv, tokens = next_tokens, start): the slots the MTP layer runs,
// after checking them — non-empty, slots within the sequence's capacity and the context, token
// ids in the vocabulary (InvalidArgument naming the item). Shared by every backend's MtpForward.
absl::StatusOr<std::vector<ForwardItem>> MtpSlotsAsForwardItems(const std::vector<MtpItem>& items,
                                                                const ModelConfig& config);

// FailedPrecondition, naming `model`, unless the block allocator `cache` has exactly the
// `device_blocks` blocks of a device backend's own KV cache (CudaModel, DenseCudaModel: the
// allocator hands out ids into the device cache).
absl::Status CheckCacheBlocks(const PagedKvCache& cache, int64_t device_blocks, const char* model);

// The per-token metadata of a forward's items, in batch order, as the device models upload it:
// token ids, positions, cache slots (block · kBlockTokens + offset) and the sequence length each
// token attends over (position + 1); the most blocks any item holds and the longest sequence
// after the step. InvalidArgument naming the item when a block id is outside [0, kv_blocks).
struct BatchTokens {
  std::vector<int32_t> ids, positions, slots, seq_lens;
  int64_t max_pages = 1;
  int64_t max_len = 0;
};
absl::StatusOr<BatchTokens> CollectBatchTokens(const std::vector<ForwardItem>& items,
                                               int64_t kv_blocks);

// Whether `spec` chooses by argmax alone: greedy, no penalty, bias or logprobs (the same choice
// at every row whatever came before it).
bool PlainGreedy(const TokenChoiceSpec& spec);

// InvalidArgument naming the item when one asks for all_logits with a spec that is not plain
// greedy: a row's penalties, draws and logprobs would depend on the rows before it. Shared by
// every backend's ForwardAndChoose.
absl::Status CheckItemsForChoice(const std::vector<ForwardItem>& items);

// Rows of logits a forward gives `item`: one per token with all_logits, else its last token's.
int64_t LogitRowCount(const ForwardItem& item);
// The batch rows (the items' tokens in order) whose logits a forward computes: each item's last
// token, or every token of an all_logits item.
std::vector<int32_t> LogitRows(const std::vector<ForwardItem>& items);
// Splits `rows` ([LogitRows(items).size()][vocab], in that order) into one vector per item.
void SplitLogitRows(const std::vector<ForwardItem>& items, const std::vector<float>& rows,
                    int64_t vocab, std::vector<std::vector<float>>* logits);

// InvalidArgument unless MtpDraft's `valid_vocab` lies in [1, config.vocab_size] (every
// backend's MtpDraft checks it so).
absl::Status CheckDraftVocab(int64_t valid_vocab, const ModelConfig& config);

// The spec of every logits row of ForwardAndChoose (items in order; `fallback` for rows of items
// without one): a device backend chooses every row in one call.
std::vector<const TokenChoiceSpec*> RowChoiceSpecs(const std::vector<ForwardItem>& items,
                                                   const TokenChoiceSpec* fallback);

// Moves the choices of `got` (one per row) into `chosen`, leaving the rows of items without a
// spec empty.
void KeepChosenRows(const std::vector<ForwardItem>& items, std::vector<TokenChoice>* got,
                    std::vector<TokenChoice>* chosen);

// Chooses the tokens of every item with a spec from `logits` as returned by Forward (the
// item's rows); the host half of ForwardModel::ForwardAndChoose. Rows are modified.
absl::Status ChooseFromItemLogits(const std::vector<ForwardItem>& items, int64_t vocab,
                                  int64_t valid_vocab, std::vector<std::vector<float>>* logits,
                                  std::vector<TokenChoice>* chosen);

// The head of a CPU forward pass (CpuModel, DenseCpuModel): for each item, its wanted rows of the
// batch's final hidden states `x` ([Σ tokens][d], items in order) — the last row, or all of them
// with all_logits — through the final RMSNorm (`final_norm`, `eps`) and `head` ([V][d]);
// (*logits)[i] gets [rows][V]. With `fill_hidden`, an item with a `hidden` output also gets all
// its normed rows there.
void CpuHeadLogits(std::vector<ForwardItem>& items, const float* x, int64_t d,
                   const float* final_norm, float eps, const float* head, int64_t V,
                   bool fill_hidden, std::vector<std::vector<float>>* logits);

}  // namespace r1

#endif  // R1_WORKER_MODEL_FORWARD_MODEL_H_
