// CudaModel: the DeepSeek-V3 forward pass on one CUDA GPU, from the kernels/ ops, with the
// semantics of CpuModel in Precision::kFp8Activations (spec §4–§9): every FP8 linear layer
// quantises its input per token in groups of 128 and runs the block-scaled FP8 GEMM with a bf16
// output; the residual stream, norms and the latent KV cache are bf16; the router and lm_head
// run in bf16 with f32 outputs; routed experts run through the grouped expert GEMM.
//
// Every token's cache row is written first. Decode tokens then run the absorbed form (spec
// §6.6), each attending to the positions up to its own: R1-sized layers (latent 512, rope 64,
// heads % 64 == 0) through kernels/mla_decode — our kernel or FlashInfer's Hopper MLA, chosen
// per step (CudaModelOptions::mla_decode) — any other size through kernels/mla_attend.
// Prefill chunks run the naive form (spec §6.5, kernels/mla_prefill) on their sequence's
// gathered latent rows, or the absorbed form too (CudaModelOptions::naive_prefill_max_rows).
//
// The latent cache lives on the device ([layer][block][64][row] bf16, `kv_blocks` blocks per
// layer); block ids come from the items' KvSequence, allocated by the caller (e.g. a
// PagedKvCache used only for its block allocator). Forward runs on the model's own stream and
// returns when the logits are on the host; ForwardAndChoose keeps them on the device and
// returns the chosen tokens (CudaTokenChooser).
//
// With the MTP module loaded (CudaLoadOptions::load_mtp) the model also runs MtpForward
// (cuda_mtp.cc) and its cache has one more layer, the MTP layer's (num_hidden_layers); Forward
// fills ForwardItem::hidden whenever an item asks. Items with decode_attention run the absorbed
// form at every position, as a decode token would, whatever naive_prefill_max_rows says.
//
// Routed experts run through CudaRoutedExperts: on this GPU for every expert, or, with an
// expert executor (CudaModelOptions::expert_executor), across the ranks of an expert-parallel
// group, each rank running the experts it holds on the rows dispatched to it.
//
// Decode steps run as CUDA graphs (CudaModelOptions::decode_graphs, decode_graph_plan.h): the
// step is padded to a bucket by filler tokens that use one cache block reserved beyond
// kv_blocks; its host work (metadata upload, FlashInfer's plan, the exchange's step agreement,
// the token choice) runs eagerly around the replay.
//
// Owns its stream, cuBLAS handle, cache and scratch; shares the weights. Thread-compatible: one
// Forward at a time, from any thread, with the same CUDA device current as at construction.
#ifndef R1_WORKER_BACKEND_CUDA_MODEL_H_
#define R1_WORKER_BACKEND_CUDA_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/mla_decode/mla_decode.h"
#include "kernels/mla_prefill/mla_prefill_backend.h"
#include "worker/backend/cuda_routed_experts.h"
#include "worker/backend/cuda_token_chooser.h"
#include "worker/backend/cuda_weights.h"
#include "worker/backend/decode_graph_plan.h"
#include "worker/backend/device_expert_executor.h"
#include "worker/backend/step_profiler.h"
#include "worker/model/cpu_model.h"

namespace r1 {

struct CudaModelScratch;
struct BatchLayout;
class DecodeGraphs;
class PinnedUpload;
class LayerPass;
namespace kernels {
class FlashInferMlaDecode;
class FlashInferMlaPrefill;
}  // namespace kernels

// Which kernel runs the absorbed MLA decode of R1-sized attention.
enum class MlaDecodeSelect {
  // Per step: ChooseMlaDecodeBackend over the measured table (kernels/mla_decode), FlashInfer
  // only when it is built and every token of the step attends to ≥ 1 cached position (a step
  // with prefill chunks in the naive form runs ours, which gives their placeholder rows zeros).
  kMeasured,
  kOurs,
  // Every step FlashInfer's (same condition on prefill chunks); Create fails without FlashInfer.
  kFlashInfer,
};

// Which kernel runs the attention of prefill chunks in the naive form (kernels/mla_prefill).
enum class MlaPrefillSelect {
  // Per chunk: ChooseMlaPrefillBackend over the measured table, FlashInfer only when it is built,
  // the model's widths are its (q/k 192, v 128) and the chunk's keys fit its packed-key buffer
  // (CudaModelOptions::flashinfer_prefill_max_positions).
  kMeasured,
  kOurs,
  // FlashInfer for every chunk it can run (the conditions above); ours for the rest. Create fails
  // without FlashInfer or when the model's widths are not FlashInfer's.
  kFlashInfer,
};

struct CudaModelOptions {
  // Dense FP8 GEMMs of more than 32 tokens go through cuBLASLt's block-scaled mode when its
  // layouts apply (kernels/fp8_gemm); false keeps every one on the weight-streaming kernel.
  bool cublaslt_fp8 = true;
  // Prefill chunks (items of more than one token) run the naive form (kernels/mla_prefill: keys
  // and values decompressed through kv_b_proj) while their sequences' latent rows, summed over
  // the forward's chunks, number at most this; beyond it, and with 0, the absorbed form.
  int64_t naive_prefill_max_rows = 32768;
  // Runs the routed experts across an expert-parallel group (borrowed; must outlive the model).
  // Null: this model holds every routed expert and runs them itself (a group of one).
  DeviceExpertExecutor* expert_executor = nullptr;
  // Times every forward by phase (step_profiler.h). Borrowed, nullable (off).
  StepProfiler* profiler = nullptr;
  MlaDecodeSelect mla_decode = MlaDecodeSelect::kMeasured;
  MlaPrefillSelect mla_prefill = MlaPrefillSelect::kMeasured;
  // FlashInfer's prefill packs a chunk's keys (q_start + tokens positions × heads × 192 bf16)
  // into a buffer allocated once: this many positions (8192 × 128 heads: 384 MiB). Longer chunks
  // run ours.
  int64_t flashinfer_prefill_max_positions = 8192;
  // Decode steps (and verification steps of draft tokens) of at most kMaxDecodeGraphTokens
  // tokens run as CUDA graphs, one per padded batch size (decode_graph_plan.h), while the
  // profiler is off; false: every step launches its kernels.
  bool decode_graphs = true;
};

class CudaModel : public ForwardModel {
 public:
  // `weights` must live on the current device. Allocates the cache for `kv_blocks` blocks.
  static absl::StatusOr<std::unique_ptr<CudaModel>> Create(
      std::shared_ptr<const CudaWeights> weights, int kv_blocks, CudaModelOptions options = {});
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  const ModelConfig& config() const override { return weights_->config; }
  int row_size() const override;  // KV row: kv_lora_rank + qk_rope_head_dim
  int kv_blocks() const { return kv_blocks_; }
  bool uses_host_cache_rows() const override { return false; }
  // The MLA decode kernel of the last forward (kNone: no R1-sized absorbed decode ran).
  kernels::MlaDecodeBackend last_mla_decode() const { return last_mla_decode_; }
  // The attention kernel of the last forward's last naive prefill chunk (kOurs also when none ran).
  kernels::MlaPrefillBackend last_mla_prefill() const { return last_mla_prefill_; }
  // The routed experts' FP8 grouped GEMM of the last MoE layer this rank ran (kNone: none ran,
  // or INT4 experts).
  kernels::MoeGemmFp8Backend last_expert_gemm() const { return experts_->last_fp8_backend(); }
  // ForwardModel: how the last forward's (or MTP pass's) layers ran — kEager also for every step
  // that does not qualify for a graph; nullopt without CudaModelOptions::decode_graphs.
  std::optional<DecodeGraphAction> last_decode_graph() const override {
    if (graphs_ == nullptr) return std::nullopt;
    return last_decode_graph_;
  }
  // The captured graphs and their counts (captures, replays, failures); null without
  // CudaModelOptions::decode_graphs.
  const DecodeGraphTable* decode_graph_table() const;

  // As CpuModel::Forward: `logits[i]` gets [rows][vocab] f32 for item i (rows = tokens with
  // all_logits, else 1); positions [start, start+T) are written to the device cache and
  // kv->length advanced. Items with block ids outside [0, kv_blocks) are InvalidArgument. An
  // empty batch runs only the expert-parallel exchanges (a lockstep step of an idle rank).
  absl::Status Forward(std::vector<ForwardItem>& items, std::vector<std::vector<float>>* logits);
  // ForwardModel: `cache` only allocates block ids (it must have kv_blocks() blocks; an Engine
  // makes it without host rows).
  absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                       std::vector<std::vector<float>>* logits) override;
  // ForwardModel: the token choice runs on the device; one download of the chosen ids.
  absl::Status ForwardAndChoose(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                int64_t valid_vocab, std::vector<TokenChoice>* chosen) override;

  // 1 when the weights hold the MTP module (CudaLoadOptions::load_mtp), else 0.
  int mtp_layers() const override { return weights_->mtp.empty() ? 0 : 1; }
  // As CpuModel::MtpForward (spec §10, cuda_mtp.cc): slot p runs e = enorm(Emb(t_{p+1})),
  // g = hnorm(h_p), eh_proj·[e ; g] through the MTP decoder layer (cache layer
  // num_hidden_layers, RoPE position p; its MoE as every MoE layer's, through the expert
  // executor when there is one), then shared_head.norm and lm_head. An empty batch runs only the
  // MTP layer's expert-parallel exchange. `cache` only allocates block ids.
  absl::Status MtpForward(const std::vector<MtpItem>& items, PagedKvCache& cache,
                          std::vector<std::vector<float>>* logits,
                          std::vector<std::vector<float>>* hidden) override;
  // The same without the allocator check.
  absl::Status MtpForward(const std::vector<MtpItem>& items,
                          std::vector<std::vector<float>>* logits,
                          std::vector<std::vector<float>>* hidden);
  // ForwardModel: the drafts chosen on the device (one argmax per item); only their ids and the
  // hidden rows are copied to the host.
  absl::Status MtpDraft(const std::vector<MtpItem>& items, PagedKvCache& cache, int64_t valid_vocab,
                        std::vector<int>* drafts, std::vector<std::vector<float>>* hidden) override;

 private:
  CudaModel(std::shared_ptr<const CudaWeights> weights, int kv_blocks, CudaModelOptions options);
  absl::Status Init();
  // A step without tokens: only the expert-parallel exchanges (nothing without an executor) of
  // the main MoE layers, or with `mtp` of the MTP layer.
  absl::Status EmptyStep(bool mtp);
  // Decoder layer `layer`: a main layer, or the MTP module's at num_hidden_layers.
  const DeviceLayer& Layer(int layer) const {
    return layer < config().num_hidden_layers ? weights_->layers[layer] : weights_->mtp[0].layer;
  }
  absl::Status CheckAllocator(const PagedKvCache& cache) const;
  // With an expert executor: waits, bounded, for the step's exchanges that ride the stream
  // (DeviceExpertExecutor::Drain) before the step's unbounded host wait on its results.
  absl::Status DrainExchanges();
  // Runs the layers and lm_head of a non-empty batch: Scratch::logits gets the wanted rows
  // ([*rows][v_ld] f32: each item's last row, or all of them with all_logits), on the stream,
  // not synchronised. Does not advance kv->length.
  absl::Status ComputeLogits(std::vector<ForwardItem>& items, int64_t* rows);
  // The batch's metadata on the device (ids, positions, cache slots, lengths, block tables, the
  // naive chunks' gathered slots), the scratch and attention workspace grown to fit it and
  // `logit_rows` rows of logits, and its MLA decode planned; starts the profiler's step.
  // `graph_tokens` > 0: the step runs as a graph of that many tokens (fillers after the items').
  absl::Status PrepareBatch(const std::vector<ForwardItem>& items, int64_t logit_rows,
                            int64_t graph_tokens, BatchLayout* b);
  // The padded token count of a step that runs as a CUDA graph (0: eagerly) and the expert
  // exchange's key for it; with an executor, this begins the group's step.
  absl::StatusOr<int64_t> GraphStepTokens(const std::vector<ForwardItem>& items,
                                          int64_t* exchange_key);
  // Runs `enqueue` (the kernels of batch `b`, padded to a graph's size) as DecodeGraphs says:
  // eagerly, captured then replayed, or replayed; `head_rows` becomes every row of the batch.
  absl::Status RunAsGraph(const BatchLayout& b, int64_t exchange_key, bool mtp,
                          std::vector<int32_t>* head_rows,
                          const std::function<absl::Status()>& enqueue);
  // The kernels of a prepared batch, from the embedding to lm_head on rows `head_rows`.
  absl::Status EnqueueForward(const BatchLayout& b, const std::vector<int32_t>& head_rows);
  // Counts every reallocation of a buffer the forward's kernels use (decode_graph_plan.h).
  uint64_t BufferGeneration() const;
  // The cache holds one block per layer beyond kv_blocks: the filler tokens' (PrepareBatch).
  int64_t filler_block() const { return kv_blocks_; }
  int64_t cache_blocks() const { return kv_blocks_ + 1; }
  absl::Status Upload(int32_t* dst, const std::vector<int32_t>& v);
  // One decoder layer over the batch: its input in Scratch::x (`first`: not yet normalised;
  // else the residual stream, with the previous layer's output in Scratch::y), its attention on
  // cache layer `layer`, its FFN or MoE output left in Scratch::y.
  absl::Status RunLayer(LayerPass& pass, int layer, const DeviceLayer& L, const BatchLayout& b,
                        bool first);
  // lm_head on rows `head_rows` of Scratch::h (n rows) into Scratch::logits; returns the device
  // rows it read ([head_rows.size()][hidden] bf16).
  absl::StatusOr<const uint16_t*> LmHead(LayerPass& pass, const std::vector<int32_t>& head_rows,
                                         int64_t n);
  // With any item asking for ForwardItem::hidden: enqueues the download of the batch's final
  // normed rows (Scratch::h) into `host`; FillHidden hands them out once the stream is synced.
  absl::Status DownloadHidden(const std::vector<ForwardItem>& items, std::vector<uint16_t>* host);
  void FillHidden(std::vector<ForwardItem>& items, const std::vector<uint16_t>& host) const;
  // The MTP module over a non-empty batch of slots, on the stream: each item's last slot's logits
  // in Scratch::logits, *normed = the rows lm_head read ([items][hidden] bf16).
  absl::Status EnqueueMtp(const std::vector<MtpItem>& items, const uint16_t** normed);
  // Its kernels over a prepared batch (the MTP layer's input rows in Scratch::y), from the
  // embedding to lm_head on rows `head_rows`.
  absl::Status EnqueueMtpLayers(const BatchLayout& b, const std::vector<int32_t>& head_rows,
                                const uint16_t** normed);
  // EnqueueMtp, its exchanges drained, and the download of its hidden rows ([items][hidden]
  // bf16) into `host_hidden` enqueued: valid after the stream's next synchronisation.
  absl::Status RunMtpPass(const std::vector<MtpItem>& items, std::vector<uint16_t>* host_hidden);
  // After an MTP pass's synchronisation: frees retired buffers, closes the profiler's step.
  absl::Status EndMtp(StepPhase last);
  // The downloaded bf16 hidden rows as floats, one vector per item.
  void MtpHiddenRows(const std::vector<uint16_t>& host, int64_t rows,
                     std::vector<std::vector<float>>* hidden) const;
  // Grows the MTP input buffer (MtpForward's [rows][2·hidden] concatenation).
  absl::Status EnsureMtpScratch(int64_t rows);
  // Grows the decode attention's workspace to what kernels/mla_decode needs for this call.
  absl::Status EnsureAttentionWorkspace(int64_t batch, int64_t max_seq_len);
  // Picks this step's MLA decode kernel from the host lengths of its tokens (0 for tokens of
  // naive prefill chunks) and, for FlashInfer, plans it on the stream. Returns the planned
  // FlashInfer object, or null when ours runs.
  // A layer pass over the scratch for `n` tokens of batch `b`, with the attention kernels chosen
  // for it.
  LayerPass NewPass(const BatchLayout& b, int64_t n);
  // Creates fi_prefill_ as options_.mla_prefill asks (Init).
  absl::Status InitFlashInferPrefill();
  absl::StatusOr<kernels::FlashInferMlaDecode*> PlanMlaDecode(const std::vector<int32_t>& seq_lens,
                                                              int64_t max_len, int64_t max_pages);
  absl::Status EnsureScratch(int64_t tokens, int64_t max_pages, int64_t logit_rows,
                             int64_t gather_rows);

  std::shared_ptr<const CudaWeights> weights_;
  int kv_blocks_;
  CudaModelOptions options_;
  void* stream_ = nullptr;  // cudaStream_t
  void* cublas_ = nullptr;  // cublasHandle_t
  DeviceArena cache_arena_;
  uint16_t* cache_ = nullptr;  // [layers][kv_blocks][64][row_size] bf16
  float* cos_table_ = nullptr;
  float* sin_table_ = nullptr;
  std::unique_ptr<CudaModelScratch> scratch_;  // internal/cuda_layer_pass.h
  std::unique_ptr<CudaRoutedExperts> experts_;
  std::unique_ptr<DeviceArena> mtp_arena_;  // MtpForward's concatenation buffer (grow-only)
  // Outgrown MTP buffers the stream may still read; freed after MtpForward's synchronisation.
  std::vector<std::unique_ptr<DeviceArena>> mtp_retired_;
  uint16_t* mtp_eh_ = nullptr;  // [mtp_rows_][2·hidden] bf16
  int64_t mtp_rows_ = 0;
  // FlashInfer's MLA decode on this model's stream; null when not built, not R1-sized or
  // MlaDecodeSelect::kOurs.
  // (Deleted in cuda_model.cc, where the type is complete when FlashInfer is built.)
  struct FlashInferMlaDecodeDeleter {
    void operator()(kernels::FlashInferMlaDecode* p) const;
  };
  std::unique_ptr<kernels::FlashInferMlaDecode, FlashInferMlaDecodeDeleter> fi_mla_;
  kernels::MlaDecodeBackend last_mla_decode_ = kernels::MlaDecodeBackend::kNone;
  // FlashInfer's prefill (its packed-key buffer); null when not built, not its widths or
  // MlaPrefillSelect::kOurs.
  struct FlashInferMlaPrefillDeleter {
    void operator()(kernels::FlashInferMlaPrefill* p) const;
  };
  std::unique_ptr<kernels::FlashInferMlaPrefill, FlashInferMlaPrefillDeleter> fi_prefill_;
  kernels::MlaPrefillBackend last_mla_prefill_ = kernels::MlaPrefillBackend::kOurs;
  CudaTokenChooser chooser_;
  std::unique_ptr<DecodeGraphs> graphs_;           // null without CudaModelOptions::decode_graphs
  std::unique_ptr<PinnedUpload> metadata_upload_;  // PrepareBatch's one copy per step
  DecodeGraphAction last_decode_graph_ = DecodeGraphAction::kEager;
  uint64_t buffer_generation_ = 0;  // scratch and attention workspace reallocations
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_CUDA_MODEL_H_
