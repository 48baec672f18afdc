#include "worker/backend/dense_cuda_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/numeric.h"
#include "common/status_macros.h"
#include "kernels/bf16_gemm/bf16_gemm_cuda.h"
#include "kernels/embedding/embedding_cuda.h"
#include "kernels/gqa_attend/gqa_attend_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/kv_write/kv_write_cuda.h"
#include "kernels/rmsnorm/rmsnorm_cuda.h"
#include "kernels/rope/rope_cuda.h"
#include "kernels/silu_mul/silu_mul_cuda.h"
#include "worker/backend/decode_graphs.h"
#include "worker/model/cpu_model.h"  // ValidateForwardItems
#include "worker/model/dense_rope.h"

namespace r1 {

using kernels::internal::CudaStatus;

namespace {
constexpr size_t kGemmWorkspaceBytes = size_t{32} << 20;  // cuBLASLt's Hopper recommendation
}  // namespace

// Device buffers of one batch size, grown (never shrunk) to the largest batch seen.
struct DenseCudaModel::Scratch {
  DeviceArena arena;
  int64_t tokens = 0, max_pages = 0, logit_rows = 0;
  int32_t* ids = nullptr;          // [tokens]
  int32_t* positions = nullptr;    // [tokens]
  int32_t* slots = nullptr;        // [tokens] cache slot: block · 64 + pos % 64
  int32_t* seq_lens = nullptr;     // [tokens] pos + 1
  int32_t* block_table = nullptr;  // [tokens][max_pages]
  int32_t* head_rows = nullptr;    // [tokens]
  uint16_t* x = nullptr;           // [tokens][hidden] residual stream
  uint16_t* y = nullptr;           // [tokens][hidden] sublayer output; the final normed rows
  uint16_t* h = nullptr;           // [tokens][qkv_k] normed input (+ the bias column's 1)
  uint16_t* qkv = nullptr;         // [tokens][q_width + 2·kv_width]
  uint16_t* attn = nullptr;        // [tokens][o_k] attention output (+ the bias column's 1)
  uint16_t* gu = nullptr;          // [tokens][2·intermediate]
  uint16_t* act = nullptr;         // [tokens][intermediate]
  uint16_t* head_in = nullptr;     // [logit_rows][hidden] gathered rows for lm_head
  float* logits = nullptr;         // [logit_rows][vocab_ld]
  void* gemm_ws = nullptr;
  std::unique_ptr<DeviceArena> attn_arena;  // the attention's split workspace (grow-only)
  float* attn_ws = nullptr;
  size_t attn_ws_bytes = 0;
};

struct DenseCudaModel::Batch {
  int64_t n = 0, max_len = 0;
  std::vector<int32_t> head_rows;  // rows of the batch through lm_head, in item order
};

DenseCudaModel::DenseCudaModel(std::shared_ptr<const DenseCudaWeights> weights, int kv_blocks)
    : weights_(std::move(weights)),
      engine_config_(weights_->config.ToModelConfig()),
      kv_blocks_(kv_blocks),
      vocab_ld_((weights_->config.vocab_size + 7) / 8 * 8),
      softmax_scale_(
          static_cast<float>(1.0 / std::sqrt(static_cast<double>(weights_->config.head_dim)))) {}

DenseCudaModel::~DenseCudaModel() {
  if (stream_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

int DenseCudaModel::row_size() const { return static_cast<int>(dense_config().kv_row()); }

absl::StatusOr<std::unique_ptr<DenseCudaModel>> DenseCudaModel::Create(
    std::shared_ptr<const DenseCudaWeights> weights, int kv_blocks, bool decode_graphs) {
  if (weights == nullptr || kv_blocks <= 0) {
    return absl::InvalidArgumentError("DenseCudaModel: need weights and kv_blocks > 0");
  }
  RETURN_IF_ERROR(CheckDenseCudaShapes(weights->config));
  std::unique_ptr<DenseCudaModel> m(new DenseCudaModel(std::move(weights), kv_blocks));
  RETURN_IF_ERROR(m->Init());
  if (decode_graphs) m->graphs_ = std::make_unique<DecodeGraphs>();
  return m;
}

std::optional<DecodeGraphAction> DenseCudaModel::last_decode_graph() const {
  if (graphs_ == nullptr) return std::nullopt;
  return last_decode_graph_;
}

const DecodeGraphTable* DenseCudaModel::decode_graph_table() const {
  return graphs_ != nullptr ? &graphs_->table() : nullptr;
}

absl::Status DenseCudaModel::Init() {
  const DenseModelConfig& c = dense_config();
  cudaStream_t stream;
  RETURN_IF_ERROR(
      CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  stream_ = stream;
  // Each layer's kv_blocks and the filler block after them.
  const size_t cache_values = static_cast<size_t>(c.num_hidden_layers) * cache_blocks() *
                              kernels::kKvWritePageTokens * row_size();
  ASSIGN_OR_RETURN(cache_, cache_arena_.AllocArray<uint16_t>(cache_values));
  // The CPU model's RoPE values, as tables (DenseRope::Table).
  std::vector<float> cos, sin;
  DenseRope(c).Table(c.max_position_embeddings, &cos, &sin);
  ASSIGN_OR_RETURN(cos_table_, cache_arena_.UploadVector(cos));
  ASSIGN_OR_RETURN(sin_table_, cache_arena_.UploadVector(sin));
  return absl::OkStatus();
}

absl::Status DenseCudaModel::EnsureScratch(int64_t n, int64_t max_pages, int64_t logit_rows) {
  if (scratch_ != nullptr && n <= scratch_->tokens && max_pages <= scratch_->max_pages &&
      logit_rows <= scratch_->logit_rows) {
    return absl::OkStatus();
  }
  if (scratch_ != nullptr) {
    n = std::max(n, scratch_->tokens);
    max_pages = std::max(max_pages, scratch_->max_pages);
    logit_rows = std::max(logit_rows, scratch_->logit_rows);
    // The old buffers may still be read by queued work.
    RETURN_IF_ERROR(
        CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)), "scratch resize"));
  }
  max_pages = DecodeGraphTableWidth(max_pages);
  scratch_.reset();
  ++buffer_generation_;
  auto s = std::make_unique<Scratch>();
  const DenseModelConfig& c = dense_config();
  const DenseCudaWeights& w = *weights_;
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  const int64_t qkv_w = c.q_width() + 2 * c.kv_width();
  s->tokens = n;
  s->max_pages = max_pages;
  s->logit_rows = logit_rows;
  DeviceArena& a = s->arena;
  ASSIGN_OR_RETURN(s->ids, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->positions, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->slots, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->seq_lens, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->block_table, a.AllocArray<int32_t>(n * max_pages));
  ASSIGN_OR_RETURN(s->head_rows, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->x, a.AllocArray<uint16_t>(n * d));
  ASSIGN_OR_RETURN(s->y, a.AllocArray<uint16_t>(n * d));
  ASSIGN_OR_RETURN(s->h, a.AllocArray<uint16_t>(n * w.qkv_k));
  ASSIGN_OR_RETURN(s->qkv, a.AllocArray<uint16_t>(n * qkv_w));
  ASSIGN_OR_RETURN(s->attn, a.AllocArray<uint16_t>(n * w.o_k));
  ASSIGN_OR_RETURN(s->gu, a.AllocArray<uint16_t>(n * 2 * f));
  ASSIGN_OR_RETURN(s->act, a.AllocArray<uint16_t>(n * f));
  ASSIGN_OR_RETURN(s->head_in, a.AllocArray<uint16_t>(std::max<int64_t>(logit_rows, 1) * d));
  ASSIGN_OR_RETURN(s->logits, a.AllocArray<float>(std::max<int64_t>(logit_rows, 1) * vocab_ld_));
  ASSIGN_OR_RETURN(s->gemm_ws, a.Alloc(kGemmWorkspaceBytes));
  // The bias columns' constant 1 (dense_cuda_weights.h): the kernels never write those columns,
  // and the arena zeroed the 7 after each.
  const std::vector<uint16_t> ones(n, FloatToBf16(1.0f));
  auto set_ones = [&](uint16_t* m, int64_t col, int64_t ld) {
    return CudaStatus(cudaMemcpy2D(m + col, ld * 2, ones.data(), 2, 2, n, cudaMemcpyHostToDevice),
                      "bias column");
  };
  if (w.qkv_k > d) RETURN_IF_ERROR(set_ones(s->h, d, w.qkv_k));
  if (w.o_k > c.q_width()) RETURN_IF_ERROR(set_ones(s->attn, c.q_width(), w.o_k));
  scratch_ = std::move(s);
  return absl::OkStatus();
}

absl::Status DenseCudaModel::EnsureAttentionWorkspace(size_t bytes) {
  Scratch& s = *scratch_;
  if (bytes <= s.attn_ws_bytes) return absl::OkStatus();
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)),
                             "attention workspace resize"));
  s.attn_arena = std::make_unique<DeviceArena>();
  ++buffer_generation_;
  ASSIGN_OR_RETURN(s.attn_ws, s.attn_arena->AllocArray<float>((bytes + 3) / 4));
  s.attn_ws_bytes = bytes;
  return absl::OkStatus();
}

absl::Status DenseCudaModel::CheckAllocator(const PagedKvCache& cache) const {
  return CheckCacheBlocks(cache, kv_blocks_, "DenseCudaModel");
}

absl::Status DenseCudaModel::Upload(int32_t* dst, const std::vector<int32_t>& v) {
  return CudaStatus(cudaMemcpyAsync(dst, v.data(), v.size() * 4, cudaMemcpyHostToDevice,
                                    static_cast<cudaStream_t>(stream_)),
                    "forward metadata upload");
}

absl::Status DenseCudaModel::PrepareBatch(const std::vector<ForwardItem>& items, int64_t logit_rows,
                                          int64_t graph_tokens, Batch* b) {
  ASSIGN_OR_RETURN(BatchTokens bt, CollectBatchTokens(items, kv_blocks_));
  PadWithFillers(&bt, graph_tokens, filler_block());  // a graph step's fillers
  // Inside a graph the attention's split count follows a bucketed length bound.
  b->max_len = graph_tokens > 0 ? DecodeGraphMaxLen(bt.max_len) : bt.max_len;
  b->n = static_cast<int64_t>(bt.ids.size());
  RETURN_IF_ERROR(EnsureScratch(b->n, bt.max_pages, logit_rows));
  const DenseModelConfig& c = dense_config();
  const kernels::GqaAttendConfig ac = kernels::ChooseGqaAttendConfig(
      b->n, static_cast<int>(c.num_attention_heads), static_cast<int>(c.num_key_value_heads),
      static_cast<int>(c.head_dim), b->max_len, kernels::internal::SmCount());
  RETURN_IF_ERROR(EnsureAttentionWorkspace(ac.workspace_bytes));
  Scratch& s = *scratch_;
  std::vector<int32_t> table(b->n * s.max_pages, 0);
  int64_t t = 0;
  for (const ForwardItem& it : items) {
    for (size_t j = 0; j < it.tokens.size(); ++j, ++t) {
      std::copy(it.kv->blocks.begin(), it.kv->blocks.end(), &table[t * s.max_pages]);
    }
  }
  for (; t < b->n; ++t) table[t * s.max_pages] = static_cast<int32_t>(filler_block());
  RETURN_IF_ERROR(Upload(s.ids, bt.ids));
  RETURN_IF_ERROR(Upload(s.positions, bt.positions));
  RETURN_IF_ERROR(Upload(s.slots, bt.slots));
  RETURN_IF_ERROR(Upload(s.seq_lens, bt.seq_lens));
  return Upload(s.block_table, table);
}

absl::Status DenseCudaModel::Gemm(const uint16_t* x, int64_t x_ld, const uint16_t* w, int64_t k,
                                  int64_t m, int64_t n, uint16_t* out, int64_t out_ld) {
  kernels::Bf16GemmParams g;
  g.x = x;
  g.x_ld = x_ld;
  g.w = w;
  g.w_ld = k;
  g.out_bf16 = out;
  g.out_ld = out_ld;
  g.m = m;
  g.n = n;
  g.k = k;
  g.workspace = scratch_->gemm_ws;
  g.workspace_bytes = kGemmWorkspaceBytes;
  return kernels::LaunchBf16Gemm(g, static_cast<cudaStream_t>(stream_));
}

absl::Status DenseCudaModel::RunLayer(int layer, const Batch& b) {
  const DenseModelConfig& c = dense_config();
  const DenseDeviceLayer& L = weights_->layers[layer];
  const DenseCudaWeights& w = *weights_;
  Scratch& s = *scratch_;
  auto stream = static_cast<cudaStream_t>(stream_);
  const int64_t n = b.n, d = c.hidden_size, f = c.intermediate_size;
  const int64_t H = c.num_attention_heads, KH = c.num_key_value_heads, D = c.head_dim;
  const int64_t qw = c.q_width(), kvw = c.kv_width(), qkv_w = qw + 2 * kvw;
  const float eps = static_cast<float>(c.rms_norm_eps);

  // The first layer normalises the embedding in s.x; later ones first add the previous output.
  kernels::RmsNormParams norm{layer == 0 ? s.x : s.y,
                              d,
                              layer == 0 ? nullptr : s.x,
                              d,
                              L.input_norm,
                              s.h,
                              w.qkv_k,
                              n,
                              d,
                              eps};
  RETURN_IF_ERROR(kernels::LaunchRmsNorm(norm, stream));
  RETURN_IF_ERROR(Gemm(s.h, w.qkv_k, L.qkv, w.qkv_k, n, qkv_w, s.qkv, qkv_w));

  kernels::RopeParams rope;
  rope.x = s.qkv;
  rope.token_stride = qkv_w;
  rope.head_stride = D;
  rope.tokens = n;
  rope.heads = H;
  rope.dim = static_cast<int>(D);
  rope.positions = s.positions;
  rope.cos_table = cos_table_;
  rope.sin_table = sin_table_;
  rope.max_pos = c.max_position_embeddings;
  rope.layout = kernels::RopeLayout::kRotateHalf;
  RETURN_IF_ERROR(kernels::LaunchRope(rope, stream));
  rope.x = s.qkv + qw;
  rope.heads = KH;
  RETURN_IF_ERROR(kernels::LaunchRope(rope, stream));

  const int64_t row = 2 * kvw;
  uint16_t* cache = cache_ + static_cast<size_t>(layer) * cache_blocks() * kBlockTokens * row;
  const int64_t pages = cache_blocks();
  kernels::KvWriteParams kw{s.qkv + qw, qkv_w, s.slots, cache, pages, row, n};
  RETURN_IF_ERROR(kernels::LaunchKvWrite(kw, stream));

  kernels::GqaAttendParams ap;
  ap.q = s.qkv;
  ap.q_stride = qkv_w;
  ap.k_cache = cache;
  ap.v_cache = cache + kvw;
  ap.page_stride = kBlockTokens * row;
  ap.row_stride = row;
  ap.num_pages = pages;
  ap.block_table = s.block_table;
  ap.block_table_stride = s.max_pages;
  ap.seq_lens = s.seq_lens;
  ap.out = s.attn;
  ap.out_stride = w.o_k;
  ap.tokens = n;
  ap.heads = static_cast<int>(H);
  ap.kv_heads = static_cast<int>(KH);
  ap.head_dim = static_cast<int>(D);
  ap.softmax_scale = softmax_scale_;
  ap.max_seq_len = b.max_len;
  ap.workspace = s.attn_ws;
  ap.workspace_bytes = s.attn_ws_bytes;
  RETURN_IF_ERROR(kernels::LaunchGqaAttend(ap, stream));
  RETURN_IF_ERROR(Gemm(s.attn, w.o_k, L.o, w.o_k, n, d, s.y, d));

  kernels::RmsNormParams post{s.y, d, s.x, d, L.post_norm, s.h, w.qkv_k, n, d, eps};
  RETURN_IF_ERROR(kernels::LaunchRmsNorm(post, stream));
  RETURN_IF_ERROR(Gemm(s.h, w.qkv_k, L.gate_up, d, n, 2 * f, s.gu, 2 * f));
  kernels::SiluMulParams act{s.gu, 2 * f, s.act, f, n, f};
  RETURN_IF_ERROR(kernels::LaunchSiluMul(act, stream));
  return Gemm(s.act, f, L.down, f, n, d, s.y, d);
}

absl::Status DenseCudaModel::ComputeLogits(const std::vector<ForwardItem>& items,
                                           int64_t* logit_rows) {
  RETURN_IF_ERROR(ValidateForwardItems(items, engine_config_));
  Batch b;
  b.head_rows = LogitRows(items);
  *logit_rows = static_cast<int64_t>(b.head_rows.size());
  last_decode_graph_ = DecodeGraphAction::kEager;
  // A qualifying step runs as a CUDA graph of its bucket's size (decode_graph_plan.h): every row,
  // fillers included, through lm_head (no gather), the real rows first.
  const int64_t graph_tokens =
      graphs_ != nullptr ? DecodeGraphTokens(DecodeGraphStepTokens(items)) : 0;
  RETURN_IF_ERROR(
      PrepareBatch(items, graph_tokens > 0 ? graph_tokens : *logit_rows, graph_tokens, &b));
  if (graph_tokens == 0) return EnqueueForward(b);
  b.head_rows.resize(graph_tokens);
  std::iota(b.head_rows.begin(), b.head_rows.end(), 0);
  DecodeGraphKey key;
  key.tokens = graph_tokens;
  key.max_len = b.max_len;
  return graphs_->Run(
      key, [this]() { return buffer_generation_; }, static_cast<cudaStream_t>(stream_),
      [&]() { return EnqueueForward(b); }, &last_decode_graph_);
}

absl::Status DenseCudaModel::EnqueueForward(const Batch& b) {
  const DenseModelConfig& c = dense_config();
  Scratch& s = *scratch_;
  auto stream = static_cast<cudaStream_t>(stream_);
  const int64_t d = c.hidden_size;
  const int64_t rows = static_cast<int64_t>(b.head_rows.size());
  kernels::EmbeddingParams ep{s.ids, weights_->embed, s.x, d, b.n, c.vocab_size, d};
  RETURN_IF_ERROR(kernels::LaunchEmbedding(ep, stream));
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) RETURN_IF_ERROR(RunLayer(layer, b));
  // Final norm into s.y (rows of `hidden`, the table the row gather reads).
  kernels::RmsNormParams fn{s.y, d, s.x, d, weights_->final_norm,
                            s.y, d, b.n, d, static_cast<float>(c.rms_norm_eps)};
  RETURN_IF_ERROR(kernels::LaunchRmsNorm(fn, stream));
  const uint16_t* head_in = s.y;
  if (rows != b.n) {
    RETURN_IF_ERROR(Upload(s.head_rows, b.head_rows));
    kernels::EmbeddingParams gather{s.head_rows, s.y, s.head_in, d, rows, b.n, d};
    RETURN_IF_ERROR(kernels::LaunchEmbedding(gather, stream));
    head_in = s.head_in;
  }
  kernels::Bf16GemmParams g;
  g.x = head_in;
  g.x_ld = d;
  g.w = weights_->lm_head;
  g.w_ld = d;
  g.out_f32 = s.logits;
  g.out_ld = vocab_ld_;
  g.m = rows;
  g.n = c.vocab_size;
  g.k = d;
  g.workspace = s.gemm_ws;
  g.workspace_bytes = kGemmWorkspaceBytes;
  return kernels::LaunchBf16Gemm(g, stream);
}

absl::Status DenseCudaModel::Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                     std::vector<std::vector<float>>* logits) {
  RETURN_IF_ERROR(CheckAllocator(cache));
  return Forward(items, logits);
}

absl::Status DenseCudaModel::Forward(std::vector<ForwardItem>& items,
                                     std::vector<std::vector<float>>* logits) {
  logits->clear();
  if (items.empty()) return absl::OkStatus();
  int64_t rows = 0;
  RETURN_IF_ERROR(ComputeLogits(items, &rows));
  const int64_t V = dense_config().vocab_size;
  auto stream = static_cast<cudaStream_t>(stream_);
  std::vector<float> host(rows * V);
  RETURN_IF_ERROR(CudaStatus(cudaMemcpy2DAsync(host.data(), V * 4, scratch_->logits, vocab_ld_ * 4,
                                               V * 4, rows, cudaMemcpyDeviceToHost, stream),
                             "logits download"));
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), "forward"));
  for (ForwardItem& it : items) it.kv->length = it.start + static_cast<int64_t>(it.tokens.size());
  SplitLogitRows(items, host, V, logits);
  return absl::OkStatus();
}

absl::Status DenseCudaModel::ForwardAndChoose(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                              int64_t valid_vocab,
                                              std::vector<TokenChoice>* chosen) {
  chosen->assign(items.size(), {});
  RETURN_IF_ERROR(CheckAllocator(cache));
  if (items.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(CheckItemsForChoice(items));
  int64_t rows = 0;
  RETURN_IF_ERROR(ComputeLogits(items, &rows));
  // Every logits row; a row of an item without a spec is chosen greedily and its token dropped.
  const TokenChoiceSpec greedy;
  const std::vector<const TokenChoiceSpec*> specs = RowChoiceSpecs(items, &greedy);
  std::vector<TokenChoice> got;
  RETURN_IF_ERROR(chooser_.Choose(scratch_->logits, vocab_ld_, dense_config().vocab_size,
                                  valid_vocab, specs, static_cast<cudaStream_t>(stream_), &got));
  for (ForwardItem& it : items) it.kv->length = it.start + static_cast<int64_t>(it.tokens.size());
  KeepChosenRows(items, &got, chosen);
  return absl::OkStatus();
}

}  // namespace r1
