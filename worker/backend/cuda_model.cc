#include "worker/backend/cuda_model.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <numeric>

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
#include "kernels/mla_decode/mla_decode_flashinfer.h"
#include "kernels/mla_prefill/mla_prefill_cuda.h"
#include "kernels/mla_prefill/mla_prefill_flashinfer.h"
#include "kernels/moe_gating/moe_gating_cuda.h"
#include "kernels/rmsnorm/rmsnorm_cuda.h"
#include "kernels/rope/rope_cuda.h"
#include "worker/backend/decode_graphs.h"
#include "worker/backend/internal/cuda_layer_pass.h"
#include "worker/backend/pinned_upload.h"
#include "worker/model/rope.h"

namespace r1 {

using kernels::internal::CudaStatus;

CudaModel::CudaModel(std::shared_ptr<const CudaWeights> weights, int kv_blocks,
                     CudaModelOptions options)
    : weights_(std::move(weights)), kv_blocks_(kv_blocks), options_(options) {}

CudaModel::~CudaModel() {
  if (cublas_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(cublas_));
  if (stream_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

void CudaModel::FlashInferMlaDecodeDeleter::operator()(kernels::FlashInferMlaDecode* p) const {
#ifdef R1_HAVE_FLASHINFER
  delete p;
#else
  (void)p;  // never created without FlashInfer
#endif
}

void CudaModel::FlashInferMlaPrefillDeleter::operator()(kernels::FlashInferMlaPrefill* p) const {
#ifdef R1_HAVE_FLASHINFER
  delete p;
#else
  (void)p;  // never created without FlashInfer
#endif
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
  const ModelDims D = ModelDims::Of(*weights_);
  for (int layer = 0; layer < c.num_hidden_layers + mtp_layers(); ++layer) {
    const DeviceLayer& L = Layer(layer);
    if (L.moe && options_.expert_executor == nullptr &&
        static_cast<int64_t>(L.held_experts.size()) != c.n_routed_experts) {
      return absl::FailedPreconditionError(absl::StrCat(
          "CudaModel: layer ", layer, " holds ", L.held_experts.size(), " of ", c.n_routed_experts,
          " routed experts; a model without an expert executor needs all of them"));
    }
  }
  experts_ = std::make_unique<CudaRoutedExperts>(D.hidden, D.expert_inter_pad, D.int4_experts);
  cudaStream_t stream;
  RETURN_IF_ERROR(
      CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  stream_ = stream;
  cublasHandle_t handle;
  RETURN_IF_ERROR(CublasStatus(cublasCreate(&handle), "cublasCreate"));
  cublas_ = handle;
  RETURN_IF_ERROR(CublasStatus(cublasSetStream(handle, stream), "cublasSetStream"));
  // One cache layer per decoder layer, the MTP module's (num_hidden_layers) included; each with
  // the filler block after the kv_blocks the caller allocates.
  const size_t cache_values = static_cast<size_t>(c.num_hidden_layers + mtp_layers()) *
                              cache_blocks() * kernels::kKvWritePageTokens * row_size();
  ASSIGN_OR_RETURN(cache_, cache_arena_.AllocArray<uint16_t>(cache_values));
  // cuBLAS's workspace given once, so that a graph capture never has it allocate one (32 MiB:
  // what cuBLAS documents for Hopper).
  constexpr size_t kCublasWorkspace = size_t{32} << 20;
  ASSIGN_OR_RETURN(void* cublas_ws, cache_arena_.Alloc(kCublasWorkspace));
  RETURN_IF_ERROR(
      CublasStatus(cublasSetWorkspace(handle, cublas_ws, kCublasWorkspace), "cublasSetWorkspace"));
  if (options_.decode_graphs) graphs_ = std::make_unique<DecodeGraphs>();
  metadata_upload_ = std::make_unique<PinnedUpload>();
  if (D.r1_attention() && options_.mla_decode != MlaDecodeSelect::kOurs) {
#ifdef R1_HAVE_FLASHINFER
    auto fi = kernels::FlashInferMlaDecode::Create();
    if (!fi.ok()) {
      return absl::Status(fi.status().code(), absl::StrCat("CudaModel: FlashInfer MLA decode: ",
                                                           fi.status().message()));
    }
    fi_mla_.reset(fi->release());
#else
    if (options_.mla_decode == MlaDecodeSelect::kFlashInfer) {
      return absl::FailedPreconditionError(
          "CudaModel: MlaDecodeSelect::kFlashInfer, but this build has no FlashInfer "
          "(scripts/install-deps.sh installs it when nvcc is present)");
    }
#endif
  }
  RETURN_IF_ERROR(InitFlashInferPrefill());
  // RoPE table: angles p·θ_i in fp32, θ as CpuModel's Rope has it (kernels/rope).
  std::vector<float> cos, sin;
  kernels::BuildRopeTable(YarnConfigOf(c), c.max_position_embeddings, &cos, &sin);
  ASSIGN_OR_RETURN(cos_table_, cache_arena_.UploadVector(cos));
  ASSIGN_OR_RETURN(sin_table_, cache_arena_.UploadVector(sin));
  return absl::OkStatus();
}

absl::Status CudaModel::InitFlashInferPrefill() {
  if (options_.mla_prefill == MlaPrefillSelect::kOurs) return absl::OkStatus();
  const ModelDims D = ModelDims::Of(*weights_);
  const bool widths = kernels::MlaPrefillFlashInferWidths(D.qk_nope, D.qk_rope, D.v_head);
  const bool wanted = options_.mla_prefill == MlaPrefillSelect::kFlashInfer;
  if (!widths) {
    return wanted ? absl::FailedPreconditionError(
                        "CudaModel: MlaPrefillSelect::kFlashInfer, but FlashInfer's prefill runs "
                        "only q/k width 192 and v width 128")
                  : absl::OkStatus();
  }
  if (options_.flashinfer_prefill_max_positions <= 0) {
    return absl::InvalidArgumentError("CudaModel: flashinfer_prefill_max_positions must be > 0");
  }
#ifdef R1_HAVE_FLASHINFER
  auto fi =
      kernels::FlashInferMlaPrefill::Create(options_.flashinfer_prefill_max_positions * D.heads);
  if (!fi.ok()) {
    return absl::Status(fi.status().code(),
                        absl::StrCat("CudaModel: FlashInfer MLA prefill: ", fi.status().message()));
  }
  fi_prefill_.reset(fi->release());
  return absl::OkStatus();
#else
  return wanted ? absl::FailedPreconditionError(
                      "CudaModel: MlaPrefillSelect::kFlashInfer, but this build has no FlashInfer "
                      "(scripts/install-deps.sh installs it when nvcc is present)")
                : absl::OkStatus();
#endif
}

absl::Status CudaModel::DrainExchanges() {
  if (options_.expert_executor == nullptr) return absl::OkStatus();
  return options_.expert_executor->Drain(stream_);
}

absl::Status CudaModel::CheckAllocator(const PagedKvCache& cache) const {
  return CheckCacheBlocks(cache, kv_blocks_, "CudaModel");
}

absl::Status CudaModel::Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                std::vector<std::vector<float>>* logits) {
  RETURN_IF_ERROR(CheckAllocator(cache));
  return Forward(items, logits);
}

absl::Status CudaModel::EmptyStep(bool mtp) {
  if (options_.expert_executor == nullptr) return absl::OkStatus();
  // A rank without tokens still joins every MoE exchange of the group (lockstep): peers may
  // dispatch rows to the experts it holds.
  auto stream = static_cast<cudaStream_t>(stream_);
  StepProfiler* prof = options_.profiler;
  auto mark = [prof](StepPhase phase) {
    return prof != nullptr ? prof->Mark(phase) : absl::OkStatus();
  };
  if (prof != nullptr) RETURN_IF_ERROR(prof->Begin(stream));
  const ModelConfig& c = config();
  const int first = mtp ? static_cast<int>(c.num_hidden_layers) : 0;
  const int end = static_cast<int>(c.num_hidden_layers) + (mtp ? mtp_layers() : 0);
  for (int layer = first; layer < end; ++layer) {
    const DeviceLayer& L = Layer(layer);
    if (!L.moe) continue;
    DeviceMoeTokens t;
    t.top_k = static_cast<int>(c.num_experts_per_tok);
    RETURN_IF_ERROR(options_.expert_executor->Run(
        layer, t,
        [this, &L, stream, &mark](int, const DeviceExpertRows& rows) {
          RETURN_IF_ERROR(mark(StepPhase::kExchange));
          RETURN_IF_ERROR(experts_->Run(L, rows, stream));
          return mark(StepPhase::kExperts);
        },
        stream));
    RETURN_IF_ERROR(mark(StepPhase::kExchange));
  }
  RETURN_IF_ERROR(options_.expert_executor->Drain(stream));
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), "empty step"));
  experts_->ReleaseRetired();
  return prof != nullptr ? prof->End() : absl::OkStatus();
}

absl::Status CudaModel::Forward(std::vector<ForwardItem>& items,
                                std::vector<std::vector<float>>* logits) {
  logits->clear();
  if (items.empty()) return EmptyStep(/*mtp=*/false);
  int64_t rows = 0;
  RETURN_IF_ERROR(ComputeLogits(items, &rows));
  RETURN_IF_ERROR(DrainExchanges());
  const ModelDims D = ModelDims::Of(*weights_);
  CudaModelScratch& s = *scratch_;
  auto stream = static_cast<cudaStream_t>(stream_);
  std::vector<float> host(rows * D.vocab);
  RETURN_IF_ERROR(CudaStatus(cudaMemcpy2DAsync(host.data(), D.vocab * 4, s.logits, D.vocab_ld * 4,
                                               D.vocab * 4, rows, cudaMemcpyDeviceToHost, stream),
                             "logits download"));
  std::vector<uint16_t> hidden;
  RETURN_IF_ERROR(DownloadHidden(items, &hidden));
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), "forward"));
  experts_->ReleaseRetired();
  if (options_.profiler != nullptr) {
    RETURN_IF_ERROR(options_.profiler->Mark(StepPhase::kHost));
    RETURN_IF_ERROR(options_.profiler->End());
  }
  for (ForwardItem& it : items) it.kv->length = it.start + static_cast<int64_t>(it.tokens.size());
  FillHidden(items, hidden);
  SplitLogitRows(items, host, D.vocab, logits);
  return absl::OkStatus();
}

absl::Status CudaModel::ForwardAndChoose(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                         int64_t valid_vocab, std::vector<TokenChoice>* chosen) {
  chosen->assign(items.size(), {});
  RETURN_IF_ERROR(CheckAllocator(cache));
  if (items.empty()) return EmptyStep(/*mtp=*/false);
  RETURN_IF_ERROR(CheckItemsForChoice(items));
  int64_t rows = 0;
  RETURN_IF_ERROR(ComputeLogits(items, &rows));
  const ModelDims D = ModelDims::Of(*weights_);
  // The chooser takes every logits row (a row of an item without a spec is chosen greedily and
  // its token dropped: cheaper than gathering the rows that need a choice).
  const TokenChoiceSpec greedy;
  const std::vector<const TokenChoiceSpec*> specs = RowChoiceSpecs(items, &greedy);
  std::vector<TokenChoice> got;
  RETURN_IF_ERROR(DrainExchanges());
  std::vector<uint16_t> hidden;
  RETURN_IF_ERROR(DownloadHidden(items, &hidden));
  RETURN_IF_ERROR(chooser_.Choose(scratch_->logits, D.vocab_ld, D.vocab, valid_vocab, specs,
                                  static_cast<cudaStream_t>(stream_), &got));
  // Choose synchronised the stream (it does for any row, and every item has one).
  if (!specs.empty()) experts_->ReleaseRetired();
  FillHidden(items, hidden);
  if (options_.profiler != nullptr) {
    RETURN_IF_ERROR(options_.profiler->Mark(StepPhase::kSampling));
    RETURN_IF_ERROR(options_.profiler->End());
  }
  for (ForwardItem& it : items) it.kv->length = it.start + static_cast<int64_t>(it.tokens.size());
  KeepChosenRows(items, &got, chosen);
  return absl::OkStatus();
}

absl::Status CudaModel::ComputeLogits(std::vector<ForwardItem>& items, int64_t* logit_rows_out) {
  RETURN_IF_ERROR(ValidateForwardItems(items, config()));
  // Each item's last row through lm_head, or all of them with all_logits.
  std::vector<int32_t> head_rows = LogitRows(items);
  *logit_rows_out = static_cast<int64_t>(head_rows.size());
  last_decode_graph_ = DecodeGraphAction::kEager;
  int64_t exchange_key = 0;
  ASSIGN_OR_RETURN(const int64_t graph_tokens, GraphStepTokens(items, &exchange_key));
  BatchLayout b;
  RETURN_IF_ERROR(
      PrepareBatch(items, graph_tokens > 0 ? graph_tokens : static_cast<int64_t>(head_rows.size()),
                   graph_tokens, &b));
  if (graph_tokens == 0) return EnqueueForward(b, head_rows);
  last_mla_prefill_ = kernels::MlaPrefillBackend::kOurs;
  return RunAsGraph(b, exchange_key, /*mtp=*/false, &head_rows,
                    [&]() { return EnqueueForward(b, head_rows); });
}

absl::Status CudaModel::RunAsGraph(const BatchLayout& b, int64_t exchange_key, bool mtp,
                                   std::vector<int32_t>* head_rows,
                                   const std::function<absl::Status()>& enqueue) {
  // Every row, fillers included, goes through lm_head (no gather); the real rows come first.
  head_rows->resize(b.n);
  std::iota(head_rows->begin(), head_rows->end(), 0);
  DecodeGraphKey key;
  key.mtp = mtp;
  key.tokens = b.n;
  key.max_len = b.fi_mla == nullptr ? b.max_len : 0;
  key.attention = static_cast<int>(last_mla_decode_);
#ifdef R1_HAVE_FLASHINFER
  key.attention_plan = b.fi_mla != nullptr ? b.fi_mla->layout_key() : 0;
#endif
  key.exchange = exchange_key;
  return graphs_->Run(
      key, [this]() { return BufferGeneration(); }, static_cast<cudaStream_t>(stream_), enqueue,
      &last_decode_graph_);
}

absl::StatusOr<int64_t> CudaModel::GraphStepTokens(const std::vector<ForwardItem>& items,
                                                   int64_t* exchange_key) {
  *exchange_key = 0;
  if (graphs_ == nullptr || (options_.profiler != nullptr && options_.profiler->enabled())) {
    return 0;
  }
  const int64_t tokens = DecodeGraphTokens(DecodeGraphStepTokens(items));
  if (tokens == 0 || options_.expert_executor == nullptr) return tokens;
  ASSIGN_OR_RETURN(*exchange_key, options_.expert_executor->BeginGraphStep(tokens, stream_));
  return *exchange_key > 0 ? tokens : 0;
}

uint64_t CudaModel::BufferGeneration() const {
  return buffer_generation_ + experts_->generation() +
         (options_.expert_executor != nullptr ? options_.expert_executor->buffers_generation() : 0);
}

const DecodeGraphTable* CudaModel::decode_graph_table() const {
  return graphs_ != nullptr ? &graphs_->table() : nullptr;
}

absl::Status CudaModel::EnqueueForward(const BatchLayout& b,
                                       const std::vector<int32_t>& head_rows) {
  const ModelConfig& c = config();
  const ModelDims D = ModelDims::Of(*weights_);
  CudaModelScratch& s = *scratch_;
  auto stream = static_cast<cudaStream_t>(stream_);
  LayerPass pass = NewPass(b, b.n);
  RETURN_IF_ERROR(pass.Mark(StepPhase::kHost));
  kernels::EmbeddingParams ep{s.ids, weights_->embed, s.x, D.hidden, b.n, D.vocab, D.hidden};
  RETURN_IF_ERROR(kernels::LaunchEmbedding(ep, stream));
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    RETURN_IF_ERROR(RunLayer(pass, layer, weights_->layers[layer], b, /*first=*/layer == 0));
  }
  RETURN_IF_ERROR(pass.Norm(s.y, D.hidden, s.x, weights_->final_norm, s.h, D.hidden, D.hidden));
  RETURN_IF_ERROR(pass.Mark(StepPhase::kNorm));
  last_mla_prefill_ = pass.last_mla_prefill();
  return LmHead(pass, head_rows, b.n).status();
}

LayerPass CudaModel::NewPass(const BatchLayout& b, int64_t n) {
  LayerPass pass(*weights_, scratch_.get(), n, static_cast<cudaStream_t>(stream_),
                 static_cast<cublasHandle_t>(cublas_), options_.cublaslt_fp8, experts_.get(),
                 options_.expert_executor, options_.profiler);
  pass.UseFlashInferMlaDecode(b.fi_mla);
  pass.UseFlashInferMlaPrefill(fi_prefill_.get(),
                               options_.mla_prefill == MlaPrefillSelect::kFlashInfer);
  return pass;
}

absl::Status CudaModel::RunLayer(LayerPass& pass, int layer, const DeviceLayer& L,
                                 const BatchLayout& b, bool first) {
  const ModelDims D = ModelDims::Of(*weights_);
  CudaModelScratch& s = *scratch_;
  // A first layer normalises its input (the embedding, or the MTP module's projection) in s.x;
  // later layers first add the previous FFN output.
  RETURN_IF_ERROR(pass.Norm(first ? s.x : s.y, D.hidden, first ? nullptr : s.x, L.input_norm, s.h,
                            D.hidden, D.hidden));
  RETURN_IF_ERROR(pass.Mark(StepPhase::kNorm));
  const size_t layer_values = static_cast<size_t>(cache_blocks()) * kBlockTokens * row_size();
  const float softmax_scale = static_cast<float>(SoftmaxScale(config()));
  RETURN_IF_ERROR(pass.Attention(L, cache_ + layer * layer_values, cache_blocks(), cos_table_,
                                 sin_table_, b.max_len, softmax_scale, b.naive, b.gather_rows));
  RETURN_IF_ERROR(pass.Norm(s.y, D.hidden, s.x, L.post_attention_norm, s.h, D.hidden, D.hidden));
  RETURN_IF_ERROR(pass.Mark(StepPhase::kNorm));
  if (L.moe) return pass.Moe(layer, L, s.y);
  RETURN_IF_ERROR(pass.Ffn(L.dense, s.y));
  return pass.Mark(StepPhase::kDenseGemm);
}

absl::StatusOr<const uint16_t*> CudaModel::LmHead(LayerPass& pass,
                                                  const std::vector<int32_t>& head_rows,
                                                  int64_t n) {
  // One GEMM over every wanted row: the lm_head weight (vocab × hidden, 1.85 GB at R1's size) is
  // read once per step, not once per sequence. Rows not already contiguous from 0 are gathered
  // first.
  const ModelDims D = ModelDims::Of(*weights_);
  CudaModelScratch& s = *scratch_;
  auto stream = static_cast<cudaStream_t>(stream_);
  const int64_t rows = static_cast<int64_t>(head_rows.size());
  const uint16_t* head_in = s.h;
  if (rows != n) {
    RETURN_IF_ERROR(Upload(s.head_rows, head_rows));
    // The row gather is an embedding lookup with the batch's hidden states as the table; s.ys
    // (the MoE's shared-expert output) is free after the last layer.
    kernels::EmbeddingParams gather{s.head_rows, s.h, s.ys, D.hidden, rows, n, D.hidden};
    RETURN_IF_ERROR(kernels::LaunchEmbedding(gather, stream));
    head_in = s.ys;
  }
  kernels::Bf16GemmParams g;
  g.x = head_in;
  g.x_ld = D.hidden;
  g.w = weights_->lm_head;
  g.w_ld = D.hidden;
  g.out_f32 = s.logits;
  g.out_ld = D.vocab_ld;
  g.m = rows;
  g.n = D.vocab;
  g.k = D.hidden;
  g.workspace = s.gemm_ws;
  g.workspace_bytes = s.gemm_ws_bytes;
  RETURN_IF_ERROR(kernels::LaunchBf16Gemm(g, stream));
  RETURN_IF_ERROR(pass.Mark(StepPhase::kLmHead));
  return head_in;
}

}  // namespace r1
