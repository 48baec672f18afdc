// DenseCudaModel: the forward pass of the dense R1-Distill families (Qwen2, Llama) on one CUDA
// GPU, with DenseCpuModel's semantics and batching contract (ForwardModel): one Forward runs a
// batch of prefill chunks and decode tokens of different sequences through every layer; the
// per-token work runs on all tokens together, attention per token over its sequence's cached
// positions [0, pos] (every token's K/V row is written first).
//
// Per layer, from the kernels/ ops: RMSNorm (residual add fused, the residual stream in bf16) →
// one BF16 GEMM for q, k, v (biases folded into it, dense_cuda_weights.h) → rotate-half RoPE on q
// and k (kernels/rope, the table DenseRope computes) → the [k | v] rows into the paged cache
// (kernels/kv_write) → paged GQA attention (kernels/gqa_attend) → o_proj GEMM → RMSNorm → one
// GEMM for gate and up → SiLU·mul → down GEMM. Then the final norm and lm_head (f32 logits) on
// each item's wanted rows. Activations are bf16 between ops, math inside them fp32.
//
// The KV cache lives on the device: [layer][block][64 tokens][K (kv_heads·head_dim) ;
// V (kv_heads·head_dim)] bf16, `kv_blocks` blocks per layer — the CPU model's row layout. Block
// ids come from the items' KvSequence (a PagedKvCache used only for its block allocator).
// Forward runs on the model's own stream and returns when the logits are on the host;
// ForwardAndChoose keeps them on the device and returns the chosen tokens (CudaTokenChooser).
//
// Owns its stream, cache and scratch; shares the weights. Thread-compatible: one Forward at a
// time, from any thread, with the same CUDA device current as at construction.
#ifndef R1_WORKER_BACKEND_DENSE_CUDA_MODEL_H_
#define R1_WORKER_BACKEND_DENSE_CUDA_MODEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/backend/cuda_token_chooser.h"
#include "worker/backend/decode_graph_plan.h"
#include "worker/backend/dense_cuda_weights.h"
#include "worker/backend/device_arena.h"
#include "worker/model/forward_model.h"

namespace r1 {

class DecodeGraphs;

class DenseCudaModel : public ForwardModel {
 public:
  // `weights` must live on the current device. Allocates the cache for `kv_blocks` blocks.
  // `decode_graphs`: decode steps of at most kMaxDecodeGraphTokens tokens run as CUDA graphs, one
  // per padded batch size, as CudaModel's do (decode_graph_plan.h): filler tokens write and read
  // one cache block reserved past `kv_blocks`.
  static absl::StatusOr<std::unique_ptr<DenseCudaModel>> Create(
      std::shared_ptr<const DenseCudaWeights> weights, int kv_blocks, bool decode_graphs = true);
  ~DenseCudaModel() override;
  DenseCudaModel(const DenseCudaModel&) = delete;
  DenseCudaModel& operator=(const DenseCudaModel&) = delete;

  // The engine's view of the config (architecture kQwen2 / kLlama; MLA and MoE fields 0).
  const ModelConfig& config() const override { return engine_config_; }
  const DenseModelConfig& dense_config() const { return weights_->config; }
  int row_size() const override;  // 2 · num_key_value_heads · head_dim
  int kv_blocks() const { return kv_blocks_; }
  bool uses_host_cache_rows() const override { return false; }

  // As DenseCpuModel::Forward: `logits[i]` gets [rows][vocab] f32 for item i (rows = tokens with
  // all_logits, else 1); positions [start, start+T) are written to the device cache and
  // kv->length advanced. Items with block ids outside [0, kv_blocks) are InvalidArgument. An
  // empty batch does nothing.
  absl::Status Forward(std::vector<ForwardItem>& items, std::vector<std::vector<float>>* logits);
  // ForwardModel: `cache` only allocates block ids (it must have kv_blocks() blocks).
  absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                       std::vector<std::vector<float>>* logits) override;
  // ForwardModel: the token choice runs on the device; one download of the chosen ids.
  absl::Status ForwardAndChoose(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                int64_t valid_vocab, std::vector<TokenChoice>* chosen) override;
  // ForwardModel: how the last forward's layers ran; nullopt without decode graphs.
  std::optional<DecodeGraphAction> last_decode_graph() const override;
  // The captured graphs and their counts; null without decode graphs.
  const DecodeGraphTable* decode_graph_table() const;

 private:
  struct Scratch;
  struct Batch;
  DenseCudaModel(std::shared_ptr<const DenseCudaWeights> weights, int kv_blocks);
  // The cache holds one block per layer beyond kv_blocks: a graph step's fillers'.
  int64_t filler_block() const { return kv_blocks_; }
  int64_t cache_blocks() const { return kv_blocks_ + 1; }
  // Embedding, layers, final norm and lm_head of a prepared batch (on the stream).
  absl::Status EnqueueForward(const Batch& b);
  absl::Status Init();
  absl::Status CheckAllocator(const PagedKvCache& cache) const;
  // Runs the layers and lm_head of a non-empty batch: Scratch::logits gets the wanted rows
  // ([*rows][vocab_ld] f32), on the stream, not synchronised. Does not advance kv->length.
  absl::Status ComputeLogits(const std::vector<ForwardItem>& items, int64_t* rows);
  // The batch's metadata on the device and the scratch grown to fit it; `graph_tokens` > 0: padded
  // with fillers to that many tokens, attention sized for a bucketed length bound.
  absl::Status PrepareBatch(const std::vector<ForwardItem>& items, int64_t logit_rows,
                            int64_t graph_tokens, Batch* b);
  absl::Status EnsureScratch(int64_t tokens, int64_t max_pages, int64_t logit_rows);
  absl::Status EnsureAttentionWorkspace(size_t bytes);
  absl::Status Upload(int32_t* dst, const std::vector<int32_t>& v);
  // Decoder layer `layer` over the batch: the residual stream in Scratch::x (and, after the
  // first layer, the previous layer's output in Scratch::y); its output left in Scratch::y.
  absl::Status RunLayer(int layer, const Batch& b);
  absl::Status Gemm(const uint16_t* x, int64_t x_ld, const uint16_t* w, int64_t k, int64_t m,
                    int64_t n, uint16_t* out, int64_t out_ld);

  std::shared_ptr<const DenseCudaWeights> weights_;
  ModelConfig engine_config_;
  int kv_blocks_;
  int64_t vocab_ld_;
  float softmax_scale_;
  void* stream_ = nullptr;  // cudaStream_t
  DeviceArena cache_arena_;
  uint16_t* cache_ = nullptr;   // [layers][kv_blocks][64][row_size] bf16
  float* cos_table_ = nullptr;  // [max_position_embeddings][head_dim/2]
  float* sin_table_ = nullptr;
  std::unique_ptr<Scratch> scratch_;
  CudaTokenChooser chooser_;
  std::unique_ptr<DecodeGraphs> graphs_;  // null without decode graphs
  DecodeGraphAction last_decode_graph_ = DecodeGraphAction::kEager;
  uint64_t buffer_generation_ = 0;  // scratch and attention workspace reallocations
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_DENSE_CUDA_MODEL_H_
