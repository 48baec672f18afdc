// The CUDA forward pass's internals shared by CudaModel and its layer sequence: the model's
// dimensions (ModelDims), the per-forward device buffers (CudaModelScratch) and the kernel
// sequence of one layer over them (LayerPass). Not part of the backend's interface.
#ifndef R1_WORKER_BACKEND_INTERNAL_CUDA_LAYER_PASS_H_
#define R1_WORKER_BACKEND_INTERNAL_CUDA_LAYER_PASS_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/mla_prefill/mla_prefill.h"
#include "kernels/mla_prefill/mla_prefill_backend.h"
#include "worker/backend/cuda_routed_experts.h"
#include "worker/backend/cuda_weights.h"
#include "worker/backend/device_arena.h"
#include "worker/backend/device_expert_executor.h"
#include "worker/backend/step_profiler.h"

namespace r1 {
namespace kernels {
class FlashInferMlaDecode;
class FlashInferMlaPrefill;
}  // namespace kernels

inline int64_t RoundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

inline absl::Status CublasStatus(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": cuBLAS status ", static_cast<int>(s)));
}

// The model's dimensions as the forward pass uses them, named once.
struct ModelDims {
  int64_t hidden, heads, qk_nope, qk_rope, v_head, kv_lora, qk_head;
  int64_t kv_row;  // latent cache row: kv_lora + qk_rope
  int64_t q_lora, experts, top_k, vocab;
  int64_t vocab_ld, experts_ld;  // leading dimensions of the logits and router rows (× 8)
  int64_t attn_out_pad;          // heads · v_head rounded up to an FP8 block (128)
  int64_t ffn_inter_pad, expert_inter_pad;  // widest dense/shared and routed intermediate sizes
  bool int4_experts;
  static ModelDims Of(const CudaWeights& w) {
    const ModelConfig& c = w.config;
    ModelDims x{};
    x.hidden = c.hidden_size;
    x.heads = c.num_attention_heads;
    x.qk_nope = c.qk_nope_head_dim;
    x.qk_rope = c.qk_rope_head_dim;
    x.v_head = c.v_head_dim;
    x.kv_lora = c.kv_lora_rank;
    x.qk_head = c.qk_head_dim();
    x.kv_row = x.kv_lora + x.qk_rope;
    x.q_lora = c.q_lora_rank;
    x.experts = c.n_routed_experts;
    x.top_k = c.num_experts_per_tok;
    x.vocab = c.vocab_size;
    x.vocab_ld = RoundUp(x.vocab, 8);
    x.experts_ld = RoundUp(std::max<int64_t>(x.experts, 1), 8);
    x.attn_out_pad = RoundUp(x.heads * x.v_head, 128);
    auto widen = [&x](const DeviceLayer& L) {
      if (!L.moe) x.ffn_inter_pad = std::max(x.ffn_inter_pad, L.dense.inter_pad);
      if (L.has_shared) x.ffn_inter_pad = std::max(x.ffn_inter_pad, L.shared.inter_pad);
      if (L.moe) x.expert_inter_pad = std::max(x.expert_inter_pad, L.experts.inter_pad);
      if (L.moe && L.experts.int4) x.int4_experts = true;
    };
    for (const DeviceLayer& L : w.layers) widen(L);
    for (const DeviceMtp& m : w.mtp) widen(m.layer);
    return x;
  }
  bool r1_attention() const { return kv_lora == 512 && qk_rope == 64 && heads % 64 == 0; }
};

// Per-forward device buffers, sized for `tokens` tokens (grow-only; reallocated together).
struct CudaModelScratch {
  int64_t tokens = 0, max_pages = 0, logit_rows = 0, gather_rows = 0;
  DeviceArena arena;
  // One block, in this order; valid_tokens: [1] the items' token count (the rest of the n are a
  // graph step's fillers, whose MoE rows route nowhere).
  int32_t *valid_tokens, *ids, *positions, *slots, *seq_lens, *block_table;
  uint16_t *x, *y, *h, *qa, *q, *kva, *ql, *lat, *ao, *gu, *ys;
  uint8_t *xq, *hq;
  float *xs, *hs;
  float *router_padded, *router, *topk_w;
  int32_t* topk_ids;
  float* logits;
  int32_t* head_rows;     // batch rows that go through lm_head, when not simply 0..n-1
  int32_t* gather_slots;  // naive prefill: cache slots of the chunks' sequences, concatenated
  uint16_t *ckv, *kvx;    // their gathered rows, and kv_b_proj of the latents [rows][H·(nope+v)]
  void* gemm_ws;
  size_t gemm_ws_bytes;
  std::unique_ptr<DeviceArena> attn_arena;  // the decode attention's split workspace
  void* attn_ws;                            // (CudaModel::EnsureAttentionWorkspace)
  size_t attn_ws_bytes;
};

// A prefill chunk run in the naive form: its tokens [token0, token0 + tokens) of the batch at
// positions [start, start + tokens), and its sequence's gathered rows [row0, row0 + start +
// tokens) of Scratch::ckv.
struct NaiveChunk {
  int64_t token0, tokens, start, row0;
};

// A batch as its layers run it (CudaModel::PrepareBatch): n tokens whose metadata is in the
// Scratch, the longest sequence, the chunks in the naive form with their gathered rows, and the
// MLA decode planned for it (null: ours).
struct BatchLayout {
  int64_t n = 0, max_len = 0, gather_rows = 0;
  std::vector<NaiveChunk> naive;
  kernels::FlashInferMlaDecode* fi_mla = nullptr;
};

// The forward pass's kernel sequence over one Scratch (borrowed for the call).
class LayerPass {
 public:
  // `cublaslt`: false gives the n-token activations' scales a leading dimension of n + 1, which
  // the cuBLASLt path of fp8_gemm does not take (ChooseFp8GemmBackend), so they stream.
  // `profiler` (nullable, borrowed) is marked at the phase boundaries of every layer.
  LayerPass(const CudaWeights& w, CudaModelScratch* s, int64_t n, cudaStream_t stream,
            cublasHandle_t cublas, bool cublaslt, CudaRoutedExperts* experts,
            DeviceExpertExecutor* executor, StepProfiler* profiler);

  // Runs the R1-sized absorbed decode through `fi` (planned by the caller for this batch's
  // lengths, borrowed) instead of our kernel; null (the default) runs ours.
  void UseFlashInferMlaDecode(kernels::FlashInferMlaDecode* fi) { fi_mla_ = fi; }
  // Naive prefill chunks may run FlashInfer's prefill `fi` (borrowed, nullable: ours everywhere):
  // per chunk by the measured table (ChooseMlaPrefillBackend), or, with `always`, wherever it
  // can (its packed-key capacity covers the chunk).
  void UseFlashInferMlaPrefill(kernels::FlashInferMlaPrefill* fi, bool always) {
    fi_prefill_ = fi;
    fi_prefill_always_ = always;
  }
  // The kernel that ran the last naive prefill chunk (kOurs when none ran).
  kernels::MlaPrefillBackend last_mla_prefill() const { return last_mla_prefill_; }

  // Closes `phase` on the profiler, if any.
  absl::Status Mark(StepPhase phase) {
    return profiler_ != nullptr ? profiler_->Mark(phase) : absl::OkStatus();
  }

  // Quantises rows [rows][cols] of bf16 `x` (row stride x_stride; [gate | up] with silu) into
  // e4m3 `out` [rows][cols] with group-major scales [cols/128][ld].
  absl::Status Quant(const uint16_t* x, int64_t x_stride, int64_t rows, int64_t cols, bool silu,
                     uint8_t* out, float* scale, int64_t ld);

  // out[n][out_ld] = xq · Wᵀ (matrix 0 of `w`), xq/xs from Quant with cols = w.k_pad.
  absl::Status Gemm(const DeviceFp8Linear& w, const uint8_t* xq, const float* xs, uint16_t* out,
                    int64_t out_ld);

  absl::Status Norm(const uint16_t* x, int64_t x_stride, uint16_t* residual, const uint16_t* g,
                    uint16_t* out, int64_t out_stride, int64_t cols);

  // Dense SwiGLU FFN of h into out [n][d].
  absl::Status Ffn(const DeviceFfn& f, uint16_t* out);

  absl::Status Moe(int layer, const DeviceLayer& L, uint16_t* out);

  // Attention of h into out [n][d]; writes this step's cache rows of `layer` first.
  absl::Status Attention(const DeviceLayer& L, uint16_t* cache, int64_t kv_blocks,
                         const float* cos_table, const float* sin_table, int64_t max_seq_len,
                         float softmax_scale, const std::vector<NaiveChunk>& naive,
                         int64_t gather_rows);

  // The naive form for prefill chunks (spec §6.5): gathers each chunk's sequence rows from the
  // cache, decompresses k_nope and v through kv_b_proj (bf16), and overwrites the chunk's rows
  // of ao (which the absorbed path left zero: its entries have length 0).
  absl::Status NaivePrefill(const DeviceLayer& L, const uint16_t* cache, int64_t kv_blocks,
                            float softmax_scale, const std::vector<NaiveChunk>& naive,
                            int64_t gather_rows);

 private:
  // One chunk's attention through FlashInfer's prefill or ours (UseFlashInferMlaPrefill).
  absl::Status RunMlaPrefill(const kernels::MlaPrefillParams& p);

  const CudaWeights& w_;
  CudaModelScratch& s_;
  int64_t n_;
  int64_t scale_ld_;
  ModelDims D_;
  cudaStream_t stream_;
  cublasHandle_t cublas_;
  CudaRoutedExperts* experts_;
  DeviceExpertExecutor* executor_;                       // nullable: every routed expert is local
  StepProfiler* profiler_;                               // nullable
  kernels::FlashInferMlaDecode* fi_mla_ = nullptr;       // nullable: our MLA decode kernel
  kernels::FlashInferMlaPrefill* fi_prefill_ = nullptr;  // nullable: our prefill kernel
  bool fi_prefill_always_ = false;
  kernels::MlaPrefillBackend last_mla_prefill_ = kernels::MlaPrefillBackend::kOurs;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_INTERNAL_CUDA_LAYER_PASS_H_
