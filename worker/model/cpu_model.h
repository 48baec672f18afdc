// CpuModel: the DeepSeek-V3 forward pass on the CPU backend (spec §4–§9), over a paged latent KV
// cache. One Forward call runs a batch of items — prefill chunks and decode tokens of different
// sequences mixed — through every layer: per-token linear layers and the MoE run on all tokens of
// the batch together; attention runs per item (naive MLA for chunks of more than one token,
// absorbed MLA for single tokens, or as forced by AttentionForm).
//
// Precision::kF32 computes in float32 on the exactly dequantised weights (the golden-fixture
// reference). Precision::kFp8Activations mirrors the GPU arithmetic: every FP8 linear layer
// quantises its input per token in groups of 128 (spec §9) and stores a BF16 output.
//
// The weights are shared and immutable; a CpuModel is thread-compatible (one Forward at a time).
#ifndef R1_WORKER_MODEL_CPU_MODEL_H_
#define R1_WORKER_MODEL_CPU_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "worker/kv_cache/kv_cache.h"
#include "worker/model/expert_executor.h"
#include "worker/model/forward_model.h"
#include "worker/model/gating.h"
#include "worker/model/model_weights.h"
#include "worker/model/rope.h"

namespace r1 {

enum class Precision { kF32, kFp8Activations };
enum class AttentionForm { kAuto, kNaive, kAbsorbed };

struct ModelOptions {
  Precision precision = Precision::kF32;
  AttentionForm attention = AttentionForm::kAuto;
  // Runs the routed experts across an expert-parallel group (borrowed; must outlive the model).
  // Null, the default, runs every routed expert locally.
  ExpertExecutor* expert_executor = nullptr;
};

// Checks a Forward batch against the model: every item non-empty, its positions following the
// cached length inside the sequence's capacity and the context, token ids in [0, vocab_size).
// InvalidArgument naming the item otherwise. Shared by every backend's Forward.
absl::Status ValidateForwardItems(const std::vector<ForwardItem>& items, const ModelConfig& c);

// Called for every MoE layer after gating with the router logits ([n][n_routed_experts]) and the
// choices per token; it may observe them (metrics, tests) or replace them (tests that pin routing
// to another run's experts, see ChoiceForExperts).
using RoutingHook = std::function<void(int layer, const float* router_logits, int64_t n,
                                       std::vector<ExpertChoice>* choices)>;

class CpuModel : public ForwardModel {
 public:
  CpuModel(std::shared_ptr<const ModelWeights> weights, ModelOptions options);

  const ModelConfig& config() const override { return weights_->config; }
  int row_size() const override;  // KV row: kv_lora_rank + qk_rope_head_dim

  // Runs the batch; `logits[i]` gets [rows][vocab] for item i (rows = tokens or 1).
  // Positions [start, start+T) of each item are written to the cache and kv->length advanced.
  absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                       std::vector<std::vector<float>>* logits) override;

  // 1 when the weights hold the MTP module (LoadOptions::load_mtp), else 0. The cache then needs
  // num_hidden_layers + 1 layers. With an expert_executor the MTP layer's MoE runs through it
  // (layer num_hidden_layers), so MtpForward is a lockstep exchange like Forward: every rank
  // calls it the same number of times, with empty `items` when it has no slots.
  int mtp_layers() const override;
  // The MTP draft forward (spec §10, cpu_mtp.cc): per slot p, e = enorm(Emb(t_{p+1})),
  // g = hnorm(h_p), the MTP decoder layer on eh_proj·[e ; g] at position p (its rows in cache
  // layer num_hidden_layers), shared_head.norm, then the main lm_head.
  absl::Status MtpForward(const std::vector<MtpItem>& items, PagedKvCache& cache,
                          std::vector<std::vector<float>>* logits,
                          std::vector<std::vector<float>>* hidden) override;

  void set_routing_hook(RoutingHook hook) { routing_hook_ = std::move(hook); }

 private:
  struct TokenRef {
    int item;
    int64_t pos;
  };
  // Main layer `layer`, or the MTP module's layer for layer == num_hidden_layers.
  const LayerWeights& LayerAt(int layer) const {
    return layer < config().num_hidden_layers ? weights_->layers[layer] : weights_->mtp[0].layer;
  }
  // One decoder layer over the batch's hidden states x [tokens][d], in place (residual adds).
  absl::Status DecoderLayer(int layer, const std::vector<ForwardItem>& items,
                            const std::vector<TokenRef>& refs, PagedKvCache& cache, float* x) const;
  void Linear(const LinearWeight& w, const float* x, int64_t m, float* y) const;
  void Attention(int layer, const float* h, const std::vector<ForwardItem>& items,
                 const std::vector<TokenRef>& refs, PagedKvCache& cache, float* out) const;
  void AttendNaive(int layer, const ForwardItem& item, const float* q, const PagedKvCache& cache,
                   float* o) const;
  void AttendAbsorbed(int layer, const ForwardItem& item, const float* q, const PagedKvCache& cache,
                      float* o) const;
  void Ffn(const FfnWeights& f, const float* x, int64_t m, float* y) const;
  absl::Status Moe(int layer, const float* h, int64_t n, float* out) const;

  std::shared_ptr<const ModelWeights> weights_;
  ModelOptions options_;
  Rope rope_;
  float softmax_scale_;
  RoutingHook routing_hook_;
};

}  // namespace r1

#endif  // R1_WORKER_MODEL_CPU_MODEL_H_
