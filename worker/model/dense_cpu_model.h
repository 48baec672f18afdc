// DenseCpuModel: the forward pass of the dense R1-Distill families (Qwen2, Llama) on the CPU
// backend, in float32, over a paged KV cache of GQA K/V rows. It implements ForwardModel with
// CpuModel's batching contract: one Forward runs a batch of items — prefill chunks and decode
// tokens of different sequences mixed — through every layer; the per-token layers (norms,
// projections, MLP) run on all tokens of the batch together, attention per item over the cached
// positions [0, start + t] of its sequence (the current chunk's keys are written first, so
// prefill and decode read identical keys).
//
// Cache row of a token in a layer (row_size = 2·num_key_value_heads·head_dim): [K ; V], K after
// RoPE, each kv head's head_dim values contiguous. With a BF16 PagedKvCache the rows are rounded
// to bf16 on write, as a BF16 device cache would hold them.
//
// The weights are shared and immutable; a DenseCpuModel is thread-compatible (one Forward at a
// time).
#ifndef R1_WORKER_MODEL_DENSE_CPU_MODEL_H_
#define R1_WORKER_MODEL_DENSE_CPU_MODEL_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "worker/kv_cache/kv_cache.h"
#include "worker/model/dense_rope.h"
#include "worker/model/dense_weights.h"
#include "worker/model/forward_model.h"

namespace r1 {

class DenseCpuModel : public ForwardModel {
 public:
  explicit DenseCpuModel(std::shared_ptr<const DenseWeights> weights);

  // The engine's view of the config (architecture kQwen2 / kLlama; MLA and MoE fields 0).
  const ModelConfig& config() const override { return engine_config_; }
  const DenseModelConfig& dense_config() const { return weights_->config; }
  int row_size() const override;  // 2 · num_key_value_heads · head_dim

  // Runs the batch; `logits[i]` gets [rows][vocab] for item i (rows = tokens with all_logits,
  // else 1). Positions [start, start+T) of each item are written to the cache and kv->length
  // advanced. InvalidArgument (nothing written) for a bad item or a cache of another row size.
  absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                       std::vector<std::vector<float>>* logits) override;

 private:
  struct TokenRef {
    int item;
    int64_t pos;
  };
  // Self-attention of one layer for all tokens of the batch: `h` [n][d] in, `out` [n][d].
  void Attention(int layer, const float* h, const std::vector<ForwardItem>& items,
                 const std::vector<TokenRef>& refs, PagedKvCache& cache, float* out) const;
  // One item's causal GQA attention: q [T][heads·head_dim] → o [T][heads·head_dim].
  void Attend(int layer, const ForwardItem& item, const float* q, const PagedKvCache& cache,
              float* o) const;

  std::shared_ptr<const DenseWeights> weights_;
  ModelConfig engine_config_;
  DenseRope rope_;
  float softmax_scale_;
};

}  // namespace r1

#endif  // R1_WORKER_MODEL_DENSE_CPU_MODEL_H_
