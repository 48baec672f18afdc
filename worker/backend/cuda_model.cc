#include "worker/backend/cuda_model.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/bf16_gemm/bf16_gemm_cuda.h"
#include "kernels/embedding/embedding_cuda.h"
#include "kernels/fp8_gemm/fp8_gemm_cuda.h"
#include "kernels/fp8_quant/fp8_quant_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/kv_write/kv_write_cuda.h"
#include "kernels/mla_attend/mla_attend_cuda.h"
#include "kernels/mla_decode/mla_decode_cuda.h"
#include "kernels/mla_prefill/mla_prefill_cuda.h"
#include "kernels/moe_gating/moe_gating_cuda.h"
#include "kernels/rmsnorm/rmsnorm_cuda.h"
#include "kernels/rope/rope_cuda.h"
#include "worker/model/rope.h"

namespace r1 {
namespace {

using kernels::internal::CudaStatus;

int64_t RoundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

absl::Status CublasStatus(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": cuBLAS status ", static_cast<int>(s)));
}

// The model's dimensions, named once.
struct Dims {
  int64_t d, H, dn, dr, dv, dc, dqk, row, qlora, E, K, V, v_ld, e_ld, o_pad, ffn_pad, exp_pad;
  bool int4_experts;
  static Dims Of(const CudaWeights& w) {
    const ModelConfig& c = w.config;
    Dims x{};
    x.d = c.hidden_size;
    x.H = c.num_attention_heads;
    x.dn = c.qk_nope_head_dim;
    x.dr = c.qk_rope_head_dim;
    x.dv = c.v_head_dim;
    x.dc = c.kv_lora_rank;
    x.dqk = c.qk_head_dim();
    x.row = x.dc + x.dr;
    x.qlora = c.q_lora_rank;
    x.E = c.n_routed_experts;
    x.K = c.num_experts_per_tok;
    x.V = c.vocab_size;
    x.v_ld = RoundUp(x.V, 8);
    x.e_ld = RoundUp(std::max<int64_t>(x.E, 1), 8);
    x.o_pad = RoundUp(x.H * x.dv, 128);
    for (const DeviceLayer& L : w.layers) {
      if (!L.moe) x.ffn_pad = std::max(x.ffn_pad, L.dense.inter_pad);
      if (L.has_shared) x.ffn_pad = std::max(x.ffn_pad, L.shared.inter_pad);
      if (L.moe) x.exp_pad = std::max(x.exp_pad, L.experts.inter_pad);
      if (L.moe && L.experts.int4) x.int4_experts = true;
    }
    return x;
  }
  bool r1_attention() const { return dc == 512 && dr == 64 && H % 64 == 0; }
};

}  // namespace

// Per-forward device buffers, sized for `tokens` tokens (grow-only; reallocated together).
struct CudaModel::Scratch {
  int64_t tokens = 0, max_pages = 0, logit_rows = 0, gather_rows = 0;
  DeviceArena arena;
  int32_t *ids, *positions, *slots, *seq_lens, *block_table;
  uint16_t *x, *y, *h, *qa, *q, *kva, *ql, *lat, *ao, *gu, *ys;
  uint8_t *xq, *hq;
  float *xs, *hs;
  float *router_padded, *router, *topk_w;
  int32_t* topk_ids;
  float* logits;
  int32_t* gather_slots;  // naive prefill: cache slots of the chunks' sequences, concatenated
  uint16_t *ckv, *kvx;    // their gathered rows, and kv_b_proj of the latents [rows][H·(nope+v)]
  void* gemm_ws;
  size_t gemm_ws_bytes;
  void* attn_ws;
  size_t attn_ws_bytes;
};

CudaModel::CudaModel(std::shared_ptr<const CudaWeights> weights, int kv_blocks,
                     CudaModelOptions options)
    : weights_(std::move(weights)), kv_blocks_(kv_blocks), options_(options) {}

CudaModel::~CudaModel() {
  if (cublas_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(cublas_));
  if (stream_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

int CudaModel::row_size() const {
  return static_cast<int>(config().kv_lora_rank + config().qk_rope_head_dim);
}

absl::StatusOr<std::unique_ptr<CudaModel>> CudaModel::Create(
    std::shared_ptr<const CudaWeights> weights, int kv_blocks, CudaModelOptions options) {
  if (weights == nullptr || kv_blocks <= 0) {
    return absl::InvalidArgumentError("CudaModel: need weights and kv_blocks > 0");
  }
  std::unique_ptr<CudaModel> m(new CudaModel(std::move(weights), kv_blocks, options));
  RETURN_IF_ERROR(m->Init());
  return m;
}

absl::Status CudaModel::Init() {
  const ModelConfig& c = config();
  const Dims D = Dims::Of(*weights_);
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    const DeviceLayer& L = weights_->layers[layer];
    if (L.moe && options_.expert_executor == nullptr &&
        static_cast<int64_t>(L.held_experts.size()) != c.n_routed_experts) {
      return absl::FailedPreconditionError(absl::StrCat(
          "CudaModel: layer ", layer, " holds ", L.held_experts.size(), " of ", c.n_routed_experts,
          " routed experts; a model without an expert executor needs all of them"));
    }
  }
  experts_ = std::make_unique<CudaRoutedExperts>(D.d, D.exp_pad, D.int4_experts);
  cudaStream_t stream;
  RETURN_IF_ERROR(
      CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  stream_ = stream;
  cublasHandle_t handle;
  RETURN_IF_ERROR(CublasStatus(cublasCreate(&handle), "cublasCreate"));
  cublas_ = handle;
  RETURN_IF_ERROR(CublasStatus(cublasSetStream(handle, stream), "cublasSetStream"));
  const size_t cache_values = static_cast<size_t>(c.num_hidden_layers) * kv_blocks_ *
                              kernels::kKvWritePageTokens * row_size();
  ASSIGN_OR_RETURN(cache_, cache_arena_.AllocArray<uint16_t>(cache_values));
  // RoPE table: angles p·θ_i in fp32, as CpuModel's Rope computes them.
  const std::vector<double> theta = YarnInvFreq(c);
  const float scale = static_cast<float>(YarnCosSinScale(c));
  const int64_t half = static_cast<int64_t>(theta.size()), max_pos = c.max_position_embeddings;
  cos_.resize(max_pos * half);
  sin_.resize(max_pos * half);
  for (int64_t p = 0; p < max_pos; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * static_cast<float>(theta[i]);
      cos_[p * half + i] = static_cast<float>(std::cos(static_cast<double>(angle))) * scale;
      sin_[p * half + i] = static_cast<float>(std::sin(static_cast<double>(angle))) * scale;
    }
  }
  ASSIGN_OR_RETURN(cos_table_, cache_arena_.UploadVector(cos_));
  ASSIGN_OR_RETURN(sin_table_, cache_arena_.UploadVector(sin_));
  cos_ = {};
  sin_ = {};
  return absl::OkStatus();
}

absl::Status CudaModel::EnsureScratch(int64_t n, int64_t max_pages, int64_t logit_rows,
                                      int64_t gather_rows) {
  if (scratch_ != nullptr && n <= scratch_->tokens && max_pages <= scratch_->max_pages &&
      logit_rows <= scratch_->logit_rows && gather_rows <= scratch_->gather_rows) {
    return absl::OkStatus();
  }
  if (scratch_ != nullptr) {
    n = std::max(n, scratch_->tokens);
    max_pages = std::max(max_pages, scratch_->max_pages);
    logit_rows = std::max(logit_rows, scratch_->logit_rows);
    gather_rows = std::max(gather_rows, scratch_->gather_rows);
  }
  scratch_.reset();
  auto s = std::make_unique<Scratch>();
  const Dims D = Dims::Of(*weights_);
  s->tokens = n;
  s->max_pages = max_pages;
  s->logit_rows = logit_rows;
  s->gather_rows = gather_rows;
  DeviceArena& a = s->arena;
  const int64_t nk = n * std::max<int64_t>(D.K, 1);
  const int64_t kmax = std::max({D.d, D.qlora, D.o_pad, D.ffn_pad});
  ASSIGN_OR_RETURN(s->ids, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->positions, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->slots, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->seq_lens, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->block_table, a.AllocArray<int32_t>(n * max_pages));
  ASSIGN_OR_RETURN(s->x, a.AllocArray<uint16_t>(n * D.d));
  ASSIGN_OR_RETURN(s->y, a.AllocArray<uint16_t>(n * D.d));
  ASSIGN_OR_RETURN(s->h, a.AllocArray<uint16_t>(n * D.d));
  ASSIGN_OR_RETURN(s->qa, a.AllocArray<uint16_t>(n * D.qlora));
  ASSIGN_OR_RETURN(s->q, a.AllocArray<uint16_t>(n * D.H * D.dqk));
  ASSIGN_OR_RETURN(s->kva, a.AllocArray<uint16_t>(n * D.row));
  ASSIGN_OR_RETURN(s->ql, a.AllocArray<uint16_t>(n * D.H * D.row));
  ASSIGN_OR_RETURN(s->lat, a.AllocArray<uint16_t>(n * D.H * D.dc));
  ASSIGN_OR_RETURN(s->ao, a.AllocArray<uint16_t>(n * D.o_pad));  // pad columns stay zero
  ASSIGN_OR_RETURN(s->gu, a.AllocArray<uint16_t>(n * 2 * std::max<int64_t>(D.ffn_pad, 128)));
  ASSIGN_OR_RETURN(s->ys, a.AllocArray<uint16_t>(n * D.d));
  ASSIGN_OR_RETURN(s->xq, a.AllocArray<uint8_t>(n * kmax));
  ASSIGN_OR_RETURN(s->xs, a.AllocArray<float>((n + 1) * (kmax / 128)));
  ASSIGN_OR_RETURN(s->hq, a.AllocArray<uint8_t>(n * std::max<int64_t>(D.ffn_pad, 128)));
  ASSIGN_OR_RETURN(s->hs, a.AllocArray<float>((n + 1) * std::max<int64_t>(D.ffn_pad / 128, 1)));
  ASSIGN_OR_RETURN(s->router_padded, a.AllocArray<float>(n * D.e_ld));
  ASSIGN_OR_RETURN(s->router, a.AllocArray<float>(n * std::max<int64_t>(D.E, 1)));
  ASSIGN_OR_RETURN(s->topk_w, a.AllocArray<float>(nk));
  ASSIGN_OR_RETURN(s->topk_ids, a.AllocArray<int32_t>(nk));
  ASSIGN_OR_RETURN(s->logits, a.AllocArray<float>(std::max<int64_t>(logit_rows, 1) * D.v_ld));
  const int64_t g = std::max<int64_t>(gather_rows, 1);
  ASSIGN_OR_RETURN(s->gather_slots, a.AllocArray<int32_t>(g));
  ASSIGN_OR_RETURN(s->ckv, a.AllocArray<uint16_t>(g * D.row));
  ASSIGN_OR_RETURN(s->kvx, a.AllocArray<uint16_t>(g * D.H * (D.dn + D.dv)));
  // FP8 GEMM workspace: the largest any linear of this model needs at n tokens.
  size_t ws = 0;
  const int64_t outs[] = {D.qlora, D.H * D.dqk, D.row, D.d, 2 * D.ffn_pad};
  for (int64_t o : outs) ws = std::max(ws, kernels::Fp8GemmWorkspaceBytes(n, o, kmax));
  s->gemm_ws_bytes = ws;
  ASSIGN_OR_RETURN(s->gemm_ws, a.Alloc(ws));
  s->attn_ws_bytes = 0;
  s->attn_ws = nullptr;
  if (D.r1_attention()) {
    const auto cfg = kernels::ChooseMlaDecodeConfig(n, D.H, max_pages * kernels::kMlaPageTokens,
                                                    kernels::internal::SmCount());
    // Any smaller batch or length picks at most as many splits × entries.
    s->attn_ws_bytes = std::max(cfg.workspace_bytes, kernels::MlaDecodeWorkspaceBytes(n, D.H, 64));
    ASSIGN_OR_RETURN(s->attn_ws, a.Alloc(s->attn_ws_bytes));
  }
  scratch_ = std::move(s);
  return absl::OkStatus();
}

namespace {

// A prefill chunk run in the naive form: its tokens [token0, token0 + tokens) of the batch at
// positions [start, start + tokens), and its sequence's gathered rows [row0, row0 + start +
// tokens) of Scratch::ckv.
struct NaiveChunk {
  int64_t token0, tokens, start, row0;
};

// The forward pass's kernel sequence over one Scratch (borrowed for the call).
class Pass {
 public:
  // `cublaslt`: false gives the n-token activations' scales a leading dimension of n + 1, which
  // the cuBLASLt path of fp8_gemm does not take (ChooseFp8GemmBackend), so they stream.
  Pass(const CudaWeights& w, CudaModel::Scratch* s, int64_t n, cudaStream_t stream,
       cublasHandle_t cublas, bool cublaslt, CudaRoutedExperts* experts,
       DeviceExpertExecutor* executor)
      : w_(w),
        s_(*s),
        n_(n),
        scale_ld_(cublaslt ? n : n + 1),
        D_(Dims::Of(w)),
        stream_(stream),
        cublas_(cublas),
        experts_(experts),
        executor_(executor) {}

  // Quantises rows [rows][cols] of bf16 `x` (row stride x_stride; [gate | up] with silu) into
  // e4m3 `out` [rows][cols] with group-major scales [cols/128][ld].
  absl::Status Quant(const uint16_t* x, int64_t x_stride, int64_t rows, int64_t cols, bool silu,
                     uint8_t* out, float* scale, int64_t ld) {
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

  // out[n][out_ld] = xq · Wᵀ (matrix 0 of `w`), xq/xs from Quant with cols = w.k_pad.
  absl::Status Gemm(const DeviceFp8Linear& w, const uint8_t* xq, const float* xs, uint16_t* out,
                    int64_t out_ld) {
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

  absl::Status Norm(const uint16_t* x, int64_t x_stride, uint16_t* residual, const uint16_t* g,
                    uint16_t* out, int64_t out_stride, int64_t cols) {
    kernels::RmsNormParams p;
    p.x = x;
    p.x_stride = x_stride;
    p.residual = residual;
    p.residual_stride = residual != nullptr ? D_.d : 0;
    p.weight = g;
    p.out = out;
    p.out_stride = out_stride;
    p.rows = n_;
    p.n = cols;
    p.eps = static_cast<float>(w_.config.rms_norm_eps);
    return kernels::LaunchRmsNorm(p, stream_);
  }

  // Dense SwiGLU FFN of h into out [n][d].
  absl::Status Ffn(const DeviceFfn& f, uint16_t* out) {
    RETURN_IF_ERROR(Quant(s_.h, D_.d, n_, D_.d, false, s_.xq, s_.xs, scale_ld_));
    RETURN_IF_ERROR(Gemm(f.gate_up, s_.xq, s_.xs, s_.gu, 2 * f.inter_pad));
    RETURN_IF_ERROR(Quant(s_.gu, 2 * f.inter_pad, n_, f.inter_pad, true, s_.hq, s_.hs, scale_ld_));
    return Gemm(f.down, s_.hq, s_.hs, out, D_.d);
  }

  absl::Status Moe(int layer, const DeviceLayer& L, uint16_t* out) {
    const ModelConfig& c = w_.config;
    // Router logits in f32 (bf16 weights and activations, fp32 accumulation).
    kernels::Bf16GemmParams r;
    r.x = s_.h;
    r.x_ld = D_.d;
    r.w = L.router;
    r.w_ld = D_.d;
    r.out_f32 = s_.router_padded;
    r.out_ld = D_.e_ld;
    r.m = n_;
    r.n = D_.E;
    r.k = D_.d;
    r.workspace = s_.gemm_ws;
    r.workspace_bytes = s_.gemm_ws_bytes;
    RETURN_IF_ERROR(kernels::LaunchBf16Gemm(r, stream_));
    const float* logits = s_.router_padded;
    if (D_.e_ld != D_.E) {
      RETURN_IF_ERROR(
          CudaStatus(cudaMemcpy2DAsync(s_.router, D_.E * 4, s_.router_padded, D_.e_ld * 4, D_.E * 4,
                                       n_, cudaMemcpyDeviceToDevice, stream_),
                     "router logits copy"));
      logits = s_.router;
    }
    kernels::MoeGatingParams g;
    g.logits = logits;
    g.bias = L.router_bias;
    g.topk_ids = s_.topk_ids;
    g.topk_weights = s_.topk_w;
    g.tokens = n_;
    g.experts = static_cast<int>(D_.E);
    g.groups = static_cast<int>(c.n_group);
    g.topk_groups = static_cast<int>(c.topk_group);
    g.top_k = static_cast<int>(D_.K);
    g.normalize = c.norm_topk_prob;
    g.routed_scaling_factor = static_cast<float>(c.routed_scaling_factor);
    RETURN_IF_ERROR(kernels::LaunchMoeGating(g, stream_));

    if (L.has_shared) RETURN_IF_ERROR(Ffn(L.shared, s_.ys));
    const uint16_t* shared = L.has_shared ? s_.ys : nullptr;

    // FP8 experts read e4m3 rows of h (quantised once, as the dense layers do).
    const bool fp8_rows = !L.experts.int4 && (executor_ == nullptr || executor_->wants_fp8());
    if (fp8_rows) RETURN_IF_ERROR(Quant(s_.h, D_.d, n_, D_.d, false, s_.xq, s_.xs, scale_ld_));
    if (executor_ == nullptr) {  // every routed expert is here: global ids are local indices
      DeviceExpertRows r;
      r.rows = n_;
      r.fp8 = fp8_rows;
      r.x = fp8_rows ? s_.xq : reinterpret_cast<const uint8_t*>(s_.h);
      r.x_stride = fp8_rows ? D_.d : D_.d * 2;
      r.x_scale = fp8_rows ? s_.xs : nullptr;
      r.x_scale_ld = scale_ld_;
      r.ids = s_.topk_ids;
      r.weights = s_.topk_w;
      r.top_k = static_cast<int>(D_.K);
      r.add = shared;
      r.out = out;
      return experts_->Run(L, r, stream_);
    }
    DeviceMoeTokens t;
    t.tokens = n_;
    t.hidden = s_.h;
    t.hidden_fp8 = fp8_rows ? s_.xq : nullptr;
    t.hidden_scale = fp8_rows ? s_.xs : nullptr;
    t.hidden_scale_ld = scale_ld_;
    t.topk_ids = s_.topk_ids;
    t.topk_weights = s_.topk_w;
    t.top_k = static_cast<int>(D_.K);
    t.shared_out = shared;
    t.out = out;
    return executor_->Run(
        layer, t,
        [this, &L](int, const DeviceExpertRows& rows) { return experts_->Run(L, rows, stream_); },
        stream_);
  }

  // Attention of h into out [n][d]; writes this step's cache rows of `layer` first.
  absl::Status Attention(const DeviceLayer& L, uint16_t* cache, int64_t kv_blocks,
                         const float* cos_table, const float* sin_table, int64_t max_seq_len,
                         float softmax_scale, const std::vector<NaiveChunk>& naive,
                         int64_t gather_rows) {
    const ModelConfig& c = w_.config;
    RETURN_IF_ERROR(Quant(s_.h, D_.d, n_, D_.d, false, s_.xq, s_.xs, scale_ld_));
    RETURN_IF_ERROR(Gemm(L.q_a, s_.xq, s_.xs, s_.qa, D_.qlora));
    RETURN_IF_ERROR(Gemm(L.kv_a, s_.xq, s_.xs, s_.kva, D_.row));
    RETURN_IF_ERROR(Norm(s_.qa, D_.qlora, nullptr, L.q_a_norm, s_.qa, D_.qlora, D_.qlora));
    RETURN_IF_ERROR(Quant(s_.qa, D_.qlora, n_, D_.qlora, false, s_.xq, s_.xs, scale_ld_));
    RETURN_IF_ERROR(Gemm(L.q_b, s_.xq, s_.xs, s_.q, D_.H * D_.dqk));

    // Cache rows: [kv_a_layernorm(c_kv) ; rope(k_rope)], then the query's rope half.
    RETURN_IF_ERROR(Norm(s_.kva, D_.row, nullptr, L.kv_a_norm, s_.kva, D_.row, D_.dc));
    kernels::RopeParams rp;
    rp.x = s_.kva + D_.dc;
    rp.token_stride = D_.row;
    rp.head_stride = D_.row;
    rp.tokens = n_;
    rp.heads = 1;
    rp.dim = static_cast<int>(D_.dr);
    rp.positions = s_.positions;
    rp.cos_table = cos_table;
    rp.sin_table = sin_table;
    rp.max_pos = c.max_position_embeddings;
    RETURN_IF_ERROR(kernels::LaunchRope(rp, stream_));
    rp.x = s_.q + D_.dn;
    rp.token_stride = D_.H * D_.dqk;
    rp.head_stride = D_.dqk;
    rp.heads = D_.H;
    RETURN_IF_ERROR(kernels::LaunchRope(rp, stream_));
    kernels::KvWriteParams kw;
    kw.rows = s_.kva;
    kw.rows_stride = D_.row;
    kw.slots = s_.slots;
    kw.cache = cache;
    kw.num_pages = kv_blocks;
    kw.row_dim = D_.row;
    kw.tokens = n_;
    RETURN_IF_ERROR(kernels::LaunchKvWrite(kw, stream_));

    // Absorbed query: q_latent[t][h] = W_UK[h]ᵀ · q_nope[t][h]; q_rope copied beside it.
    const float one = 1.0f, zero = 0.0f;
    const int64_t wstride = (D_.dn + D_.dv) * D_.dc;
    RETURN_IF_ERROR(CublasStatus(
        cublasGemmStridedBatchedEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, D_.dc, n_, D_.dn, &one,
                                   L.kv_b_bf16, CUDA_R_16BF, D_.dc, wstride, s_.q, CUDA_R_16BF,
                                   D_.H * D_.dqk, D_.dqk, &zero, s_.ql, CUDA_R_16BF, D_.H * D_.row,
                                   D_.row, D_.H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "W_UK absorption"));
    RETURN_IF_ERROR(
        CudaStatus(cudaMemcpy2DAsync(s_.ql + D_.dc, D_.row * 2, s_.q + D_.dn, D_.dqk * 2, D_.dr * 2,
                                     n_ * D_.H, cudaMemcpyDeviceToDevice, stream_),
                   "q_rope copy"));

    if (D_.r1_attention()) {
      kernels::MlaDecodeParams p;
      p.q_latent = s_.ql;
      p.q_rope = s_.ql + D_.dc;
      p.q_batch_stride = D_.H * D_.row;
      p.q_head_stride = D_.row;
      p.kv_cache = cache;
      p.num_pages = kv_blocks;
      p.block_table = s_.block_table;
      p.block_table_stride = s_.max_pages;
      p.seq_lens = s_.seq_lens;
      p.out_bf16 = s_.lat;
      p.batch = n_;
      p.heads = D_.H;
      p.softmax_scale = softmax_scale;
      p.max_seq_len = max_seq_len;
      p.workspace = s_.attn_ws;
      p.workspace_bytes = s_.attn_ws_bytes;
      RETURN_IF_ERROR(kernels::LaunchMlaDecode(p, stream_));
    } else {
      kernels::MlaAttendParams p;
      p.q_latent = s_.ql;
      p.q_rope = s_.ql + D_.dc;
      p.q_batch_stride = D_.H * D_.row;
      p.q_head_stride = D_.row;
      p.kv_cache = cache;
      p.num_pages = kv_blocks;
      p.block_table = s_.block_table;
      p.block_table_stride = s_.max_pages;
      p.seq_lens = s_.seq_lens;
      p.out = s_.lat;
      p.out_batch_stride = D_.H * D_.dc;
      p.out_head_stride = D_.dc;
      p.batch = n_;
      p.heads = D_.H;
      p.latent_dim = D_.dc;
      p.rope_dim = D_.dr;
      p.softmax_scale = softmax_scale;
      RETURN_IF_ERROR(kernels::LaunchMlaAttend(p, stream_));
    }

    // o[t][h] = W_UV[h] · latent[t][h], heads side by side in ao's first H·dv columns.
    RETURN_IF_ERROR(CublasStatus(
        cublasGemmStridedBatchedEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, D_.dv, n_, D_.dc, &one,
                                   L.kv_b_bf16 + D_.dn * D_.dc, CUDA_R_16BF, D_.dc, wstride, s_.lat,
                                   CUDA_R_16BF, D_.H * D_.dc, D_.dc, &zero, s_.ao, CUDA_R_16BF,
                                   D_.o_pad, D_.dv, D_.H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "W_UV absorption"));
    if (!naive.empty())
      RETURN_IF_ERROR(NaivePrefill(L, cache, kv_blocks, softmax_scale, naive, gather_rows));
    RETURN_IF_ERROR(Quant(s_.ao, D_.o_pad, n_, D_.o_pad, false, s_.xq, s_.xs, scale_ld_));
    return Gemm(L.o, s_.xq, s_.xs, s_.y, D_.d);
  }

  // The naive form for prefill chunks (spec §6.5): gathers each chunk's sequence rows from the
  // cache, decompresses k_nope and v through kv_b_proj (bf16), and overwrites the chunk's rows
  // of ao (which the absorbed path left zero: its entries have length 0).
  absl::Status NaivePrefill(const DeviceLayer& L, const uint16_t* cache, int64_t kv_blocks,
                            float softmax_scale, const std::vector<NaiveChunk>& naive,
                            int64_t gather_rows) {
    kernels::KvGatherParams g;
    g.cache = cache;
    g.num_pages = kv_blocks;
    g.row_dim = D_.row;
    g.slots = s_.gather_slots;
    g.rows = s_.ckv;
    g.rows_stride = D_.row;
    g.tokens = gather_rows;
    RETURN_IF_ERROR(kernels::LaunchKvGather(g, stream_));
    const int64_t kv_ld = D_.H * (D_.dn + D_.dv);
    kernels::Bf16GemmParams kb;
    kb.x = s_.ckv;
    kb.x_ld = D_.row;
    kb.w = L.kv_b_bf16;
    kb.w_ld = D_.dc;
    kb.out_bf16 = s_.kvx;
    kb.out_ld = kv_ld;
    kb.m = gather_rows;
    kb.n = kv_ld;
    kb.k = D_.dc;
    kb.workspace = s_.gemm_ws;
    kb.workspace_bytes = s_.gemm_ws_bytes;
    RETURN_IF_ERROR(kernels::LaunchBf16Gemm(kb, stream_));
    for (const NaiveChunk& c : naive) {
      kernels::MlaPrefillParams p;
      p.q = s_.q + c.token0 * D_.H * D_.dqk;
      p.q_token_stride = D_.H * D_.dqk;
      p.q_head_stride = D_.dqk;
      p.kv = s_.kvx + c.row0 * kv_ld;
      p.kv_token_stride = kv_ld;
      p.kv_head_stride = D_.dn + D_.dv;
      p.k_rope = s_.ckv + c.row0 * D_.row + D_.dc;
      p.k_rope_stride = D_.row;
      p.out = s_.ao + c.token0 * D_.o_pad;
      p.out_token_stride = D_.o_pad;
      p.out_head_stride = D_.dv;
      p.tokens = c.tokens;
      p.q_start = c.start;
      p.kv_len = c.start + c.tokens;
      p.heads = D_.H;
      p.nope_dim = D_.dn;
      p.rope_dim = D_.dr;
      p.v_dim = D_.dv;
      p.softmax_scale = softmax_scale;
      RETURN_IF_ERROR(kernels::LaunchMlaPrefill(p, stream_));
    }
    return absl::OkStatus();
  }

 private:
  const CudaWeights& w_;
  CudaModel::Scratch& s_;
  int64_t n_;
  int64_t scale_ld_;
  Dims D_;
  cudaStream_t stream_;
  cublasHandle_t cublas_;
  CudaRoutedExperts* experts_;
  DeviceExpertExecutor* executor_;  // nullable: every routed expert is local
};

}  // namespace

absl::Status CudaModel::CheckAllocator(const PagedKvCache& cache) const {
  if (cache.num_blocks() != kv_blocks_) {
    return absl::FailedPreconditionError(absl::StrCat("CudaModel: the block allocator has ",
                                                      cache.num_blocks(),
                                                      " blocks, the device cache ", kv_blocks_));
  }
  return absl::OkStatus();
}

absl::Status CudaModel::Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                std::vector<std::vector<float>>* logits) {
  RETURN_IF_ERROR(CheckAllocator(cache));
  return Forward(items, logits);
}

absl::Status CudaModel::EmptyStep() {
  if (options_.expert_executor == nullptr) return absl::OkStatus();
  // A rank without tokens still joins every MoE exchange of the group (lockstep): peers may
  // dispatch rows to the experts it holds.
  auto stream = static_cast<cudaStream_t>(stream_);
  const ModelConfig& c = config();
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    const DeviceLayer& L = weights_->layers[layer];
    if (!L.moe) continue;
    DeviceMoeTokens t;
    t.top_k = static_cast<int>(c.num_experts_per_tok);
    RETURN_IF_ERROR(options_.expert_executor->Run(
        layer, t,
        [this, &L, stream](int, const DeviceExpertRows& rows) {
          return experts_->Run(L, rows, stream);
        },
        stream));
  }
  return CudaStatus(cudaStreamSynchronize(stream), "empty step");
}

absl::Status CudaModel::Forward(std::vector<ForwardItem>& items,
                                std::vector<std::vector<float>>* logits) {
  logits->clear();
  if (items.empty()) return EmptyStep();
  int64_t rows = 0;
  RETURN_IF_ERROR(ComputeLogits(items, &rows));
  const Dims D = Dims::Of(*weights_);
  Scratch& s = *scratch_;
  auto stream = static_cast<cudaStream_t>(stream_);
  std::vector<float> host(rows * D.V);
  RETURN_IF_ERROR(CudaStatus(cudaMemcpy2DAsync(host.data(), D.V * 4, s.logits, D.v_ld * 4, D.V * 4,
                                               rows, cudaMemcpyDeviceToHost, stream),
                             "logits download"));
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), "forward"));
  for (ForwardItem& it : items) it.kv->length = it.start + static_cast<int64_t>(it.tokens.size());
  logits->assign(items.size(), {});
  int64_t row0 = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int64_t n = items[i].all_logits ? static_cast<int64_t>(items[i].tokens.size()) : 1;
    (*logits)[i].assign(host.begin() + row0 * D.V, host.begin() + (row0 + n) * D.V);
    row0 += n;
  }
  return absl::OkStatus();
}

absl::Status CudaModel::ForwardAndChoose(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                         int64_t valid_vocab, std::vector<TokenChoice>* chosen) {
  chosen->assign(items.size(), {});
  RETURN_IF_ERROR(CheckAllocator(cache));
  if (items.empty()) return EmptyStep();
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].all_logits) {
      return absl::InvalidArgumentError(
          absl::StrCat("forward item ", i, ": all_logits with a token choice"));
    }
  }
  int64_t rows = 0;
  RETURN_IF_ERROR(ComputeLogits(items, &rows));
  const Dims D = Dims::Of(*weights_);
  // One logits row per item; the chooser takes every row (an item without a spec is chosen
  // greedily and its token dropped: cheaper than gathering the rows that need a choice).
  const TokenChoiceSpec greedy;
  std::vector<const TokenChoiceSpec*> specs;
  for (const ForwardItem& it : items) specs.push_back(it.choose != nullptr ? it.choose : &greedy);
  std::vector<TokenChoice> got;
  RETURN_IF_ERROR(chooser_.Choose(scratch_->logits, D.v_ld, D.V, valid_vocab, specs,
                                  static_cast<cudaStream_t>(stream_), &got));
  for (ForwardItem& it : items) it.kv->length = it.start + static_cast<int64_t>(it.tokens.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].choose != nullptr) (*chosen)[i] = std::move(got[i]);
  }
  return absl::OkStatus();
}

absl::Status CudaModel::ComputeLogits(std::vector<ForwardItem>& items, int64_t* logit_rows_out) {
  const ModelConfig& c = config();
  const Dims D = Dims::Of(*weights_);
  std::vector<int32_t> ids, positions, slots, seq_lens;
  int64_t max_pages = 1, max_len = 0, logit_rows = 0;
  RETURN_IF_ERROR(ValidateForwardItems(items, c));
  for (size_t i = 0; i < items.size(); ++i) {
    const ForwardItem& it = items[i];
    const int64_t end = it.start + static_cast<int64_t>(it.tokens.size());
    for (int b : it.kv->blocks) {
      if (b < 0 || b >= kv_blocks_) {
        return absl::InvalidArgumentError(
            absl::StrCat("forward item ", i, ": KV block ", b, " outside [0, ", kv_blocks_, ")"));
      }
    }
    max_pages = std::max<int64_t>(max_pages, static_cast<int64_t>(it.kv->blocks.size()));
    max_len = std::max(max_len, end);
    logit_rows += it.all_logits ? static_cast<int64_t>(it.tokens.size()) : 1;
    for (size_t t = 0; t < it.tokens.size(); ++t) {
      const int64_t pos = it.start + static_cast<int64_t>(t);
      ids.push_back(it.tokens[t]);
      positions.push_back(static_cast<int32_t>(pos));
      slots.push_back(static_cast<int32_t>(it.kv->blocks[pos / kBlockTokens] * kBlockTokens +
                                           pos % kBlockTokens));
      seq_lens.push_back(static_cast<int32_t>(pos + 1));
    }
  }
  const int64_t n = static_cast<int64_t>(ids.size());
  // Prefill chunks in the naive form, while their sequences' rows fit the option's bound.
  std::vector<NaiveChunk> naive;
  std::vector<int32_t> gather_slots;
  {
    int64_t token0 = 0, rows = 0;
    for (const ForwardItem& it : items) {
      const int64_t T = static_cast<int64_t>(it.tokens.size()), end = it.start + T;
      if (T > 1 && rows + end <= options_.naive_prefill_max_rows) {
        naive.push_back({token0, T, it.start, rows});
        for (int64_t pos = 0; pos < end; ++pos) {
          gather_slots.push_back(static_cast<int32_t>(
              it.kv->blocks[pos / kBlockTokens] * kBlockTokens + pos % kBlockTokens));
        }
        for (int64_t t = 0; t < T; ++t) seq_lens[token0 + t] = 0;  // not the absorbed path's
        rows += end;
      }
      token0 += T;
    }
  }
  const int64_t gather_rows = static_cast<int64_t>(gather_slots.size());
  RETURN_IF_ERROR(EnsureScratch(n, max_pages, logit_rows, gather_rows));
  Scratch& s = *scratch_;
  std::vector<int32_t> table(n * s.max_pages, 0);
  {
    int64_t t = 0;
    for (const ForwardItem& it : items) {
      for (size_t j = 0; j < it.tokens.size(); ++j, ++t) {
        std::copy(it.kv->blocks.begin(), it.kv->blocks.end(), &table[t * s.max_pages]);
      }
    }
  }
  auto stream = static_cast<cudaStream_t>(stream_);
  auto up = [&](int32_t* dst, const std::vector<int32_t>& v) {
    return CudaStatus(cudaMemcpyAsync(dst, v.data(), v.size() * 4, cudaMemcpyHostToDevice, stream),
                      "forward metadata upload");
  };
  RETURN_IF_ERROR(up(s.ids, ids));
  RETURN_IF_ERROR(up(s.positions, positions));
  RETURN_IF_ERROR(up(s.slots, slots));
  RETURN_IF_ERROR(up(s.seq_lens, seq_lens));
  RETURN_IF_ERROR(up(s.block_table, table));
  if (gather_rows > 0) RETURN_IF_ERROR(up(s.gather_slots, gather_slots));

  Pass pass(*weights_, &s, n, stream, static_cast<cublasHandle_t>(cublas_), options_.cublaslt_fp8,
            experts_.get(), options_.expert_executor);
  kernels::EmbeddingParams ep{s.ids, weights_->embed, s.x, D.d, n, D.V, D.d};
  RETURN_IF_ERROR(kernels::LaunchEmbedding(ep, stream));
  const float softmax_scale = static_cast<float>(SoftmaxScale(c));
  const size_t layer_values = static_cast<size_t>(kv_blocks_) * kBlockTokens * row_size();
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    const DeviceLayer& L = weights_->layers[layer];
    // Layer 0 normalises the embedding; later layers first add the previous FFN output.
    if (layer == 0) {
      RETURN_IF_ERROR(pass.Norm(s.x, D.d, nullptr, L.input_norm, s.h, D.d, D.d));
    } else {
      RETURN_IF_ERROR(pass.Norm(s.y, D.d, s.x, L.input_norm, s.h, D.d, D.d));
    }
    RETURN_IF_ERROR(pass.Attention(L, cache_ + layer * layer_values, kv_blocks_, cos_table_,
                                   sin_table_, max_len, softmax_scale, naive, gather_rows));
    RETURN_IF_ERROR(pass.Norm(s.y, D.d, s.x, L.post_attention_norm, s.h, D.d, D.d));
    if (L.moe) {
      RETURN_IF_ERROR(pass.Moe(layer, L, s.y));
    } else {
      RETURN_IF_ERROR(pass.Ffn(L.dense, s.y));
    }
  }
  RETURN_IF_ERROR(pass.Norm(s.y, D.d, s.x, weights_->final_norm, s.h, D.d, D.d));

  // lm_head on the rows whose logits are wanted (each item's last row, or all of them).
  int64_t token0 = 0, row0 = 0;
  for (const ForwardItem& it : items) {
    const int64_t T = static_cast<int64_t>(it.tokens.size());
    const int64_t rows = it.all_logits ? T : 1;
    kernels::Bf16GemmParams g;
    g.x = s.h + (token0 + T - rows) * D.d;
    g.x_ld = D.d;
    g.w = weights_->lm_head;
    g.w_ld = D.d;
    g.out_f32 = s.logits + row0 * D.v_ld;
    g.out_ld = D.v_ld;
    g.m = rows;
    g.n = D.V;
    g.k = D.d;
    g.workspace = s.gemm_ws;
    g.workspace_bytes = s.gemm_ws_bytes;
    RETURN_IF_ERROR(kernels::LaunchBf16Gemm(g, stream));
    token0 += T;
    row0 += rows;
  }
  *logit_rows_out = row0;
  return absl::OkStatus();
}

}  // namespace r1
