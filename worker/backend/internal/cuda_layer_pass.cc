#include "worker/backend/internal/cuda_layer_pass.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/bf16_gemm/bf16_gemm_cuda.h"
#include "kernels/fp8_gemm/fp8_gemm_cuda.h"
#include "kernels/fp8_quant/fp8_quant_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/kv_write/kv_write_cuda.h"
#include "kernels/mla_attend/mla_attend_cuda.h"
#include "kernels/mla_decode/mla_decode_cuda.h"
#include "kernels/mla_decode/mla_decode_flashinfer.h"
#include "kernels/mla_prefill/mla_prefill_backend.h"
#include "kernels/mla_prefill/mla_prefill_cuda.h"
#include "kernels/mla_prefill/mla_prefill_flashinfer.h"
#include "kernels/moe_gating/moe_gating_cuda.h"
#include "kernels/rmsnorm/rmsnorm_cuda.h"
#include "kernels/rope/rope_cuda.h"

namespace r1 {

using kernels::internal::CudaStatus;

LayerPass::LayerPass(const CudaWeights& w, CudaModelScratch* s, int64_t n, cudaStream_t stream,
                     cublasHandle_t cublas, bool cublaslt, CudaRoutedExperts* experts,
                     DeviceExpertExecutor* executor, StepProfiler* profiler)
    : w_(w),
      s_(*s),
      n_(n),
      scale_ld_(cublaslt ? n : n + 1),
      D_(ModelDims::Of(w)),
      stream_(stream),
      cublas_(cublas),
      experts_(experts),
      executor_(executor),
      profiler_(profiler) {}

absl::Status LayerPass::Quant(const uint16_t* x, int64_t x_stride, int64_t rows, int64_t cols,
                              bool silu, uint8_t* out, float* scale, int64_t ld) {
  kernels::Fp8QuantParams p;
  p.x = x;
  p.x_stride = x_stride;
  p.out = out;
  p.scale = scale;
  p.rows = rows;
  p.cols = cols;
  p.silu_mul = silu;
  kernels::SetGroupMajorScales(p, ld);
  return kernels::LaunchFp8Quant(p, stream_);
}

absl::Status LayerPass::Gemm(const DeviceFp8Linear& w, const uint8_t* xq, const float* xs,
                             uint16_t* out, int64_t out_ld) {
  kernels::Fp8GemmParams p;
  p.x = xq;
  p.x_scale = xs;
  p.x_scale_ld = scale_ld_;
  p.w = w.w;
  p.w_scale = w.scale;
  p.w_scale_ld = w.scale_ld;
  p.out = out;
  p.out_ld = out_ld;
  p.m = n_;
  p.n = w.n;
  p.k = w.k_pad;
  p.workspace = s_.gemm_ws;
  p.workspace_bytes = s_.gemm_ws_bytes;
  return kernels::LaunchFp8Gemm(p, stream_);
}

absl::Status LayerPass::Norm(const uint16_t* x, int64_t x_stride, uint16_t* residual,
                             const uint16_t* g, uint16_t* out, int64_t out_stride, int64_t cols) {
  kernels::RmsNormParams p;
  p.x = x;
  p.x_stride = x_stride;
  p.residual = residual;
  p.residual_stride = residual != nullptr ? D_.hidden : 0;
  p.weight = g;
  p.out = out;
  p.out_stride = out_stride;
  p.rows = n_;
  p.n = cols;
  p.eps = static_cast<float>(w_.config.rms_norm_eps);
  return kernels::LaunchRmsNorm(p, stream_);
}

absl::Status LayerPass::Ffn(const DeviceFfn& f, uint16_t* out) {
  RETURN_IF_ERROR(Quant(s_.h, D_.hidden, n_, D_.hidden, false, s_.xq, s_.xs, scale_ld_));
  RETURN_IF_ERROR(Gemm(f.gate_up, s_.xq, s_.xs, s_.gu, 2 * f.inter_pad));
  RETURN_IF_ERROR(Quant(s_.gu, 2 * f.inter_pad, n_, f.inter_pad, true, s_.hq, s_.hs, scale_ld_));
  return Gemm(f.down, s_.hq, s_.hs, out, D_.hidden);
}

absl::Status LayerPass::Moe(int layer, const DeviceLayer& L, uint16_t* out) {
  const ModelConfig& c = w_.config;
  // Router logits in f32 (bf16 weights and activations, fp32 accumulation).
  kernels::Bf16GemmParams r;
  r.x = s_.h;
  r.x_ld = D_.hidden;
  r.w = L.router;
  r.w_ld = D_.hidden;
  r.out_f32 = s_.router_padded;
  r.out_ld = D_.experts_ld;
  r.m = n_;
  r.n = D_.experts;
  r.k = D_.hidden;
  r.workspace = s_.gemm_ws;
  r.workspace_bytes = s_.gemm_ws_bytes;
  RETURN_IF_ERROR(kernels::LaunchBf16Gemm(r, stream_));
  const float* logits = s_.router_padded;
  if (D_.experts_ld != D_.experts) {
    RETURN_IF_ERROR(
        CudaStatus(cudaMemcpy2DAsync(s_.router, D_.experts * 4, s_.router_padded, D_.experts_ld * 4,
                                     D_.experts * 4, n_, cudaMemcpyDeviceToDevice, stream_),
                   "router logits copy"));
    logits = s_.router;
  }
  kernels::MoeGatingParams g;
  g.logits = logits;
  g.bias = L.router_bias;
  g.topk_ids = s_.topk_ids;
  g.topk_weights = s_.topk_w;
  g.tokens = n_;
  g.experts = static_cast<int>(D_.experts);
  g.groups = static_cast<int>(c.n_group);
  g.topk_groups = static_cast<int>(c.topk_group);
  g.top_k = static_cast<int>(D_.top_k);
  g.normalize = c.norm_topk_prob;
  g.routed_scaling_factor = static_cast<float>(c.routed_scaling_factor);
  g.valid_tokens = s_.valid_tokens;  // a graph step's filler rows run no routed expert
  RETURN_IF_ERROR(kernels::LaunchMoeGating(g, stream_));
  RETURN_IF_ERROR(Mark(StepPhase::kGating));

  if (L.has_shared) {
    RETURN_IF_ERROR(Ffn(L.shared, s_.ys));
    RETURN_IF_ERROR(Mark(StepPhase::kDenseGemm));
  }
  const uint16_t* shared = L.has_shared ? s_.ys : nullptr;

  // FP8 experts read e4m3 rows of h (quantised once, as the dense layers do).
  const bool fp8_rows = !L.experts.int4 && (executor_ == nullptr || executor_->wants_fp8());
  if (fp8_rows) {
    RETURN_IF_ERROR(Quant(s_.h, D_.hidden, n_, D_.hidden, false, s_.xq, s_.xs, scale_ld_));
    RETURN_IF_ERROR(Mark(StepPhase::kGating));
  }
  if (executor_ == nullptr) {  // every routed expert is here: global ids are local indices
    DeviceExpertRows r;
    r.rows = n_;
    r.fp8 = fp8_rows;
    r.x = fp8_rows ? s_.xq : reinterpret_cast<const uint8_t*>(s_.h);
    r.x_stride = fp8_rows ? D_.hidden : D_.hidden * 2;
    r.x_scale = fp8_rows ? s_.xs : nullptr;
    r.x_scale_ld = scale_ld_;
    r.ids = s_.topk_ids;
    r.weights = s_.topk_w;
    r.top_k = static_cast<int>(D_.top_k);
    r.add = shared;
    r.out = out;
    RETURN_IF_ERROR(experts_->Run(L, r, stream_));
    return Mark(StepPhase::kExperts);
  }
  DeviceMoeTokens t;
  t.tokens = n_;
  t.hidden = s_.h;
  t.hidden_fp8 = fp8_rows ? s_.xq : nullptr;
  t.hidden_scale = fp8_rows ? s_.xs : nullptr;
  t.hidden_scale_ld = scale_ld_;
  t.topk_ids = s_.topk_ids;
  t.topk_weights = s_.topk_w;
  t.top_k = static_cast<int>(D_.top_k);
  t.shared_out = shared;
  t.out = out;
  RETURN_IF_ERROR(executor_->Run(
      layer, t,
      [this, &L](int, const DeviceExpertRows& rows) {
        RETURN_IF_ERROR(Mark(StepPhase::kExchange));
        RETURN_IF_ERROR(experts_->Run(L, rows, stream_));
        return Mark(StepPhase::kExperts);
      },
      stream_));
  return Mark(StepPhase::kExchange);
}

absl::Status LayerPass::Attention(const DeviceLayer& L, uint16_t* cache, int64_t kv_blocks,
                                  const float* cos_table, const float* sin_table,
                                  int64_t max_seq_len, float softmax_scale,
                                  const std::vector<NaiveChunk>& naive, int64_t gather_rows) {
  const ModelConfig& c = w_.config;
  RETURN_IF_ERROR(Quant(s_.h, D_.hidden, n_, D_.hidden, false, s_.xq, s_.xs, scale_ld_));
  RETURN_IF_ERROR(Gemm(L.q_a, s_.xq, s_.xs, s_.qa, D_.q_lora));
  RETURN_IF_ERROR(Gemm(L.kv_a, s_.xq, s_.xs, s_.kva, D_.kv_row));
  RETURN_IF_ERROR(Norm(s_.qa, D_.q_lora, nullptr, L.q_a_norm, s_.qa, D_.q_lora, D_.q_lora));
  RETURN_IF_ERROR(Quant(s_.qa, D_.q_lora, n_, D_.q_lora, false, s_.xq, s_.xs, scale_ld_));
  RETURN_IF_ERROR(Gemm(L.q_b, s_.xq, s_.xs, s_.q, D_.heads * D_.qk_head));
  RETURN_IF_ERROR(Mark(StepPhase::kDenseGemm));

  // Cache rows: [kv_a_layernorm(c_kv) ; rope(k_rope)], then the query's rope half.
  RETURN_IF_ERROR(Norm(s_.kva, D_.kv_row, nullptr, L.kv_a_norm, s_.kva, D_.kv_row, D_.kv_lora));
  kernels::RopeParams rp;
  rp.x = s_.kva + D_.kv_lora;
  rp.token_stride = D_.kv_row;
  rp.head_stride = D_.kv_row;
  rp.tokens = n_;
  rp.heads = 1;
  rp.dim = static_cast<int>(D_.qk_rope);
  rp.positions = s_.positions;
  rp.cos_table = cos_table;
  rp.sin_table = sin_table;
  rp.max_pos = c.max_position_embeddings;
  RETURN_IF_ERROR(kernels::LaunchRope(rp, stream_));
  rp.x = s_.q + D_.qk_nope;
  rp.token_stride = D_.heads * D_.qk_head;
  rp.head_stride = D_.qk_head;
  rp.heads = D_.heads;
  RETURN_IF_ERROR(kernels::LaunchRope(rp, stream_));
  kernels::KvWriteParams kw;
  kw.rows = s_.kva;
  kw.rows_stride = D_.kv_row;
  kw.slots = s_.slots;
  kw.cache = cache;
  kw.num_pages = kv_blocks;
  kw.row_dim = D_.kv_row;
  kw.tokens = n_;
  RETURN_IF_ERROR(kernels::LaunchKvWrite(kw, stream_));

  // Absorbed query: q_latent[t][h] = W_UK[h]ᵀ · q_nope[t][h]; q_rope copied beside it.
  const float one = 1.0f, zero = 0.0f;
  const int64_t wstride = (D_.qk_nope + D_.v_head) * D_.kv_lora;
  RETURN_IF_ERROR(CublasStatus(
      cublasGemmStridedBatchedEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, D_.kv_lora, n_, D_.qk_nope,
                                 &one, L.kv_b_bf16, CUDA_R_16BF, D_.kv_lora, wstride, s_.q,
                                 CUDA_R_16BF, D_.heads * D_.qk_head, D_.qk_head, &zero, s_.ql,
                                 CUDA_R_16BF, D_.heads * D_.kv_row, D_.kv_row, D_.heads,
                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "W_UK absorption"));
  RETURN_IF_ERROR(CudaStatus(
      cudaMemcpy2DAsync(s_.ql + D_.kv_lora, D_.kv_row * 2, s_.q + D_.qk_nope, D_.qk_head * 2,
                        D_.qk_rope * 2, n_ * D_.heads, cudaMemcpyDeviceToDevice, stream_),
      "q_rope copy"));

  if (D_.r1_attention()) {
    kernels::MlaDecodeParams p;
    p.q_latent = s_.ql;
    p.q_rope = s_.ql + D_.kv_lora;
    p.q_batch_stride = D_.heads * D_.kv_row;
    p.q_head_stride = D_.kv_row;
    p.kv_cache = cache;
    p.num_pages = kv_blocks;
    p.block_table = s_.block_table;
    p.block_table_stride = s_.max_pages;
    p.seq_lens = s_.seq_lens;
    p.out_bf16 = s_.lat;
    p.batch = n_;
    p.heads = D_.heads;
    p.softmax_scale = softmax_scale;
    p.max_seq_len = max_seq_len;
    p.workspace = s_.attn_ws;
    p.workspace_bytes = s_.attn_ws_bytes;
    if (fi_mla_ != nullptr) {
      RETURN_IF_ERROR(fi_mla_->Run(p, stream_));
    } else {
      RETURN_IF_ERROR(kernels::LaunchMlaDecode(p, stream_));
    }
  } else {
    kernels::MlaAttendParams p;
    p.q_latent = s_.ql;
    p.q_rope = s_.ql + D_.kv_lora;
    p.q_batch_stride = D_.heads * D_.kv_row;
    p.q_head_stride = D_.kv_row;
    p.kv_cache = cache;
    p.num_pages = kv_blocks;
    p.block_table = s_.block_table;
    p.block_table_stride = s_.max_pages;
    p.seq_lens = s_.seq_lens;
    p.out = s_.lat;
    p.out_batch_stride = D_.heads * D_.kv_lora;
    p.out_head_stride = D_.kv_lora;
    p.batch = n_;
    p.heads = D_.heads;
    p.latent_dim = D_.kv_lora;
    p.rope_dim = D_.qk_rope;
    p.softmax_scale = softmax_scale;
    RETURN_IF_ERROR(kernels::LaunchMlaAttend(p, stream_));
  }

  // o[t][h] = W_UV[h] · latent[t][h], heads side by side in ao's first H·dv columns.
  RETURN_IF_ERROR(CublasStatus(
      cublasGemmStridedBatchedEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, D_.v_head, n_, D_.kv_lora, &one,
                                 L.kv_b_bf16 + D_.qk_nope * D_.kv_lora, CUDA_R_16BF, D_.kv_lora,
                                 wstride, s_.lat, CUDA_R_16BF, D_.heads * D_.kv_lora, D_.kv_lora,
                                 &zero, s_.ao, CUDA_R_16BF, D_.attn_out_pad, D_.v_head, D_.heads,
                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "W_UV absorption"));
  if (!naive.empty())
    RETURN_IF_ERROR(NaivePrefill(L, cache, kv_blocks, softmax_scale, naive, gather_rows));
  RETURN_IF_ERROR(Mark(StepPhase::kAttention));
  RETURN_IF_ERROR(
      Quant(s_.ao, D_.attn_out_pad, n_, D_.attn_out_pad, false, s_.xq, s_.xs, scale_ld_));
  RETURN_IF_ERROR(Gemm(L.o, s_.xq, s_.xs, s_.y, D_.hidden));
  return Mark(StepPhase::kDenseGemm);
}

absl::Status LayerPass::RunMlaPrefill(const kernels::MlaPrefillParams& p) {
  last_mla_prefill_ = kernels::MlaPrefillBackend::kOurs;
#ifdef R1_HAVE_FLASHINFER
  const bool fits = fi_prefill_ != nullptr &&
                    (p.q_start + p.tokens) * p.heads <= fi_prefill_->key_capacity_rows();
  const bool fi = fits && (fi_prefill_always_ ? kernels::CheckMlaPrefillFlashInfer(p).ok()
                                              : kernels::ChooseMlaPrefillBackend(p, true) ==
                                                    kernels::MlaPrefillBackend::kFlashInfer);
  if (fi) {
    last_mla_prefill_ = kernels::MlaPrefillBackend::kFlashInfer;
    return fi_prefill_->Run(p, stream_);
  }
#endif
  return kernels::LaunchMlaPrefill(p, stream_);
}

absl::Status LayerPass::NaivePrefill(const DeviceLayer& L, const uint16_t* cache, int64_t kv_blocks,
                                     float softmax_scale, const std::vector<NaiveChunk>& naive,
                                     int64_t gather_rows) {
  kernels::KvGatherParams g;
  g.cache = cache;
  g.num_pages = kv_blocks;
  g.row_dim = D_.kv_row;
  g.slots = s_.gather_slots;
  g.rows = s_.ckv;
  g.rows_stride = D_.kv_row;
  g.tokens = gather_rows;
  RETURN_IF_ERROR(kernels::LaunchKvGather(g, stream_));
  const int64_t kv_ld = D_.heads * (D_.qk_nope + D_.v_head);
  kernels::Bf16GemmParams kb;
  kb.x = s_.ckv;
  kb.x_ld = D_.kv_row;
  kb.w = L.kv_b_bf16;
  kb.w_ld = D_.kv_lora;
  kb.out_bf16 = s_.kvx;
  kb.out_ld = kv_ld;
  kb.m = gather_rows;
  kb.n = kv_ld;
  kb.k = D_.kv_lora;
  kb.workspace = s_.gemm_ws;
  kb.workspace_bytes = s_.gemm_ws_bytes;
  RETURN_IF_ERROR(kernels::LaunchBf16Gemm(kb, stream_));
  for (const NaiveChunk& c : naive) {
    kernels::MlaPrefillParams p;
    p.q = s_.q + c.token0 * D_.heads * D_.qk_head;
    p.q_token_stride = D_.heads * D_.qk_head;
    p.q_head_stride = D_.qk_head;
    p.kv = s_.kvx + c.row0 * kv_ld;
    p.kv_token_stride = kv_ld;
    p.kv_head_stride = D_.qk_nope + D_.v_head;
    p.k_rope = s_.ckv + c.row0 * D_.kv_row + D_.kv_lora;
    p.k_rope_stride = D_.kv_row;
    p.out = s_.ao + c.token0 * D_.attn_out_pad;
    p.out_token_stride = D_.attn_out_pad;
    p.out_head_stride = D_.v_head;
    p.tokens = c.tokens;
    p.q_start = c.start;
    p.kv_len = c.start + c.tokens;
    p.heads = D_.heads;
    p.nope_dim = D_.qk_nope;
    p.rope_dim = D_.qk_rope;
    p.v_dim = D_.v_head;
    p.softmax_scale = softmax_scale;
    RETURN_IF_ERROR(RunMlaPrefill(p));
  }
  return absl::OkStatus();
}

}  // namespace r1
