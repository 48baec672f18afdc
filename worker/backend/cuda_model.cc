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
#include "kernels/mla_decode/mla_decode_flashinfer.h"
#include "kernels/mla_prefill/mla_prefill_cuda.h"
#include "kernels/mla_prefill/mla_prefill_flashinfer.h"
#include "kernels/moe_gating/moe_gating_cuda.h"
#include "kernels/rmsnorm/rmsnorm_cuda.h"
#include "kernels/rope/rope_cuda.h"
#include "worker/backend/internal/cuda_layer_pass.h"
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
  // One cache layer per decoder layer, the MTP module's (num_hidden_layers) included.
  const size_t cache_values = static_cast<size_t>(c.num_hidden_layers + mtp_layers()) * kv_blocks_ *
                              kernels::kKvWritePageTokens * row_size();
  ASSIGN_OR_RETURN(cache_, cache_arena_.AllocArray<uint16_t>(cache_values));
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
  auto s = std::make_unique<CudaModelScratch>();
  const ModelDims D = ModelDims::Of(*weights_);
  s->tokens = n;
  s->max_pages = max_pages;
  s->logit_rows = logit_rows;
  s->gather_rows = gather_rows;
  DeviceArena& a = s->arena;
  const int64_t nk = n * std::max<int64_t>(D.top_k, 1);
  const int64_t kmax = std::max({D.hidden, D.q_lora, D.attn_out_pad, D.ffn_inter_pad});
  ASSIGN_OR_RETURN(s->ids, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->positions, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->slots, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->seq_lens, a.AllocArray<int32_t>(n));
  ASSIGN_OR_RETURN(s->block_table, a.AllocArray<int32_t>(n * max_pages));
  ASSIGN_OR_RETURN(s->x, a.AllocArray<uint16_t>(n * D.hidden));
  ASSIGN_OR_RETURN(s->y, a.AllocArray<uint16_t>(n * D.hidden));
  ASSIGN_OR_RETURN(s->h, a.AllocArray<uint16_t>(n * D.hidden));
  ASSIGN_OR_RETURN(s->qa, a.AllocArray<uint16_t>(n * D.q_lora));
  ASSIGN_OR_RETURN(s->q, a.AllocArray<uint16_t>(n * D.heads * D.qk_head));
  ASSIGN_OR_RETURN(s->kva, a.AllocArray<uint16_t>(n * D.kv_row));
  ASSIGN_OR_RETURN(s->ql, a.AllocArray<uint16_t>(n * D.heads * D.kv_row));
  ASSIGN_OR_RETURN(s->lat, a.AllocArray<uint16_t>(n * D.heads * D.kv_lora));
  ASSIGN_OR_RETURN(s->ao, a.AllocArray<uint16_t>(n * D.attn_out_pad));  // pad columns stay zero
  ASSIGN_OR_RETURN(s->gu, a.AllocArray<uint16_t>(n * 2 * std::max<int64_t>(D.ffn_inter_pad, 128)));
  ASSIGN_OR_RETURN(s->ys, a.AllocArray<uint16_t>(n * D.hidden));
  ASSIGN_OR_RETURN(s->xq, a.AllocArray<uint8_t>(n * kmax));
  ASSIGN_OR_RETURN(s->xs, a.AllocArray<float>((n + 1) * (kmax / 128)));
  ASSIGN_OR_RETURN(s->hq, a.AllocArray<uint8_t>(n * std::max<int64_t>(D.ffn_inter_pad, 128)));
  ASSIGN_OR_RETURN(s->hs,
                   a.AllocArray<float>((n + 1) * std::max<int64_t>(D.ffn_inter_pad / 128, 1)));
  ASSIGN_OR_RETURN(s->router_padded, a.AllocArray<float>(n * D.experts_ld));
  ASSIGN_OR_RETURN(s->router, a.AllocArray<float>(n * std::max<int64_t>(D.experts, 1)));
  ASSIGN_OR_RETURN(s->topk_w, a.AllocArray<float>(nk));
  ASSIGN_OR_RETURN(s->topk_ids, a.AllocArray<int32_t>(nk));
  ASSIGN_OR_RETURN(s->logits, a.AllocArray<float>(std::max<int64_t>(logit_rows, 1) * D.vocab_ld));
  ASSIGN_OR_RETURN(s->head_rows, a.AllocArray<int32_t>(n));
  const int64_t g = std::max<int64_t>(gather_rows, 1);
  ASSIGN_OR_RETURN(s->gather_slots, a.AllocArray<int32_t>(g));
  ASSIGN_OR_RETURN(s->ckv, a.AllocArray<uint16_t>(g * D.kv_row));
  ASSIGN_OR_RETURN(s->kvx, a.AllocArray<uint16_t>(g * D.heads * (D.qk_nope + D.v_head)));
  // FP8 GEMM workspace: the largest any linear of this model needs at n tokens.
  size_t ws = 0;
  const int64_t outs[] = {D.q_lora, D.heads * D.qk_head, D.kv_row, D.hidden, 2 * D.ffn_inter_pad};
  for (int64_t o : outs) ws = std::max(ws, kernels::Fp8GemmWorkspaceBytes(n, o, kmax));
  s->gemm_ws_bytes = ws;
  ASSIGN_OR_RETURN(s->gemm_ws, a.Alloc(ws));
  s->attn_ws_bytes = 0;
  s->attn_ws = nullptr;
  scratch_ = std::move(s);
  return absl::OkStatus();
}

absl::Status CudaModel::EnsureAttentionWorkspace(int64_t batch, int64_t max_seq_len) {
  CudaModelScratch& s = *scratch_;
  if (!ModelDims::Of(*weights_).r1_attention()) return absl::OkStatus();
  // Exactly what kernels/mla_decode will pick for this call; grown on demand, so a large
  // prefill (one split) does not reserve a worst-case split count for all of its tokens.
  const auto cfg = kernels::ChooseMlaDecodeConfig(batch, ModelDims::Of(*weights_).heads,
                                                  max_seq_len, kernels::internal::SmCount());
  if (cfg.workspace_bytes <= s.attn_ws_bytes) return absl::OkStatus();
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)),
                             "attention workspace resize"));
  s.attn_arena = std::make_unique<DeviceArena>();
  ASSIGN_OR_RETURN(s.attn_ws, s.attn_arena->Alloc(cfg.workspace_bytes));
  s.attn_ws_bytes = cfg.workspace_bytes;
  return absl::OkStatus();
}

absl::StatusOr<kernels::FlashInferMlaDecode*> CudaModel::PlanMlaDecode(
    const std::vector<int32_t>& seq_lens, int64_t max_len, int64_t max_pages) {
  const ModelDims D = ModelDims::Of(*weights_);
  const int64_t n = static_cast<int64_t>(seq_lens.size());
  last_mla_decode_ = kernels::MlaDecodeBackend::kNone;
  if (!D.r1_attention()) return nullptr;
  last_mla_decode_ = kernels::MlaDecodeBackend::kOurs;
  if (fi_mla_ == nullptr) return nullptr;
  // A length-0 entry (a token of a naive prefill chunk, whose rows NaivePrefill overwrites)
  // must still come out finite: ours writes zeros, FlashInfer's does not promise anything.
  if (std::any_of(seq_lens.begin(), seq_lens.end(), [](int32_t l) { return l <= 0; })) {
    return nullptr;
  }
  const bool fi =
      options_.mla_decode == MlaDecodeSelect::kFlashInfer ||
      kernels::ChooseMlaDecodeBackend(n, D.heads, max_len, /*flashinfer_available=*/true,
                                      /*bf16_out=*/true) == kernels::MlaDecodeBackend::kFlashInfer;
  if (!fi) return nullptr;
  RETURN_IF_ERROR(
      fi_mla_->Plan(seq_lens.data(), n, D.heads, max_pages, static_cast<cudaStream_t>(stream_)));
  last_mla_decode_ = kernels::MlaDecodeBackend::kFlashInfer;
  return fi_mla_.get();
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
  logits->assign(items.size(), {});
  int64_t row0 = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int64_t n = items[i].all_logits ? static_cast<int64_t>(items[i].tokens.size()) : 1;
    (*logits)[i].assign(host.begin() + row0 * D.vocab, host.begin() + (row0 + n) * D.vocab);
    row0 += n;
  }
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
  const ModelConfig& c = config();
  RETURN_IF_ERROR(ValidateForwardItems(items, c));
  // Each item's last row through lm_head, or all of them with all_logits.
  std::vector<int32_t> head_rows;
  {
    int64_t token0 = 0;
    for (const ForwardItem& it : items) {
      const int64_t T = static_cast<int64_t>(it.tokens.size());
      for (int64_t t = it.all_logits ? 0 : T - 1; t < T; ++t) {
        head_rows.push_back(static_cast<int32_t>(token0 + t));
      }
      token0 += T;
    }
  }
  BatchLayout b;
  RETURN_IF_ERROR(PrepareBatch(items, static_cast<int64_t>(head_rows.size()), &b));
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
  RETURN_IF_ERROR(LmHead(pass, head_rows, b.n).status());
  *logit_rows_out = static_cast<int64_t>(head_rows.size());
  return absl::OkStatus();
}

absl::Status CudaModel::PrepareBatch(const std::vector<ForwardItem>& items, int64_t logit_rows,
                                     BatchLayout* b) {
  std::vector<int32_t> ids, positions, slots, seq_lens;
  int64_t max_pages = 1, max_len = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const ForwardItem& it = items[i];
    const int64_t end = it.start + static_cast<int64_t>(it.tokens.size());
    for (int block : it.kv->blocks) {
      if (block < 0 || block >= kv_blocks_) {
        return absl::InvalidArgumentError(absl::StrCat("forward item ", i, ": KV block ", block,
                                                       " outside [0, ", kv_blocks_, ")"));
      }
    }
    max_pages = std::max<int64_t>(max_pages, static_cast<int64_t>(it.kv->blocks.size()));
    max_len = std::max(max_len, end);
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
  // Prefill chunks in the naive form, while their sequences' rows fit the option's bound. Items
  // with decode_attention keep the absorbed form, every position attending as a decode token.
  std::vector<int32_t> gather_slots;
  b->naive.clear();
  {
    int64_t token0 = 0, rows = 0;
    for (const ForwardItem& it : items) {
      const int64_t T = static_cast<int64_t>(it.tokens.size()), end = it.start + T;
      if (T > 1 && !it.decode_attention && rows + end <= options_.naive_prefill_max_rows) {
        b->naive.push_back({token0, T, it.start, rows});
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
  b->n = n;
  b->max_len = max_len;
  b->gather_rows = static_cast<int64_t>(gather_slots.size());
  RETURN_IF_ERROR(EnsureScratch(n, max_pages, logit_rows, b->gather_rows));
  RETURN_IF_ERROR(EnsureAttentionWorkspace(n, max_len));
  CudaModelScratch& s = *scratch_;
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
  if (options_.profiler != nullptr) RETURN_IF_ERROR(options_.profiler->Begin(stream));
  RETURN_IF_ERROR(Upload(s.ids, ids));
  RETURN_IF_ERROR(Upload(s.positions, positions));
  RETURN_IF_ERROR(Upload(s.slots, slots));
  RETURN_IF_ERROR(Upload(s.seq_lens, seq_lens));
  RETURN_IF_ERROR(Upload(s.block_table, table));
  if (b->gather_rows > 0) RETURN_IF_ERROR(Upload(s.gather_slots, gather_slots));
  ASSIGN_OR_RETURN(b->fi_mla, PlanMlaDecode(seq_lens, max_len, s.max_pages));
  return absl::OkStatus();
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

absl::Status CudaModel::Upload(int32_t* dst, const std::vector<int32_t>& v) {
  return CudaStatus(cudaMemcpyAsync(dst, v.data(), v.size() * 4, cudaMemcpyHostToDevice,
                                    static_cast<cudaStream_t>(stream_)),
                    "forward metadata upload");
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
  const size_t layer_values = static_cast<size_t>(kv_blocks_) * kBlockTokens * row_size();
  const float softmax_scale = static_cast<float>(SoftmaxScale(config()));
  RETURN_IF_ERROR(pass.Attention(L, cache_ + layer * layer_values, kv_blocks_, cos_table_,
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
