// CudaModel's MTP module (spec §10): the draft forward of speculative decoding, and the final
// hidden states Forward hands to it (ForwardItem::hidden). CpuModel's (worker/model/cpu_mtp.cc)
// is the reference, in its FP8-activation mode.
//
// Slot p takes the main model's final hidden state h_p (after model.norm) and the embedding of
// t_{p+1}: x' = eh_proj · [enorm(Emb(t_{p+1})) ; hnorm(h_p)] (bf16 GEMM, embedding columns
// first), then the MTP decoder layer through the same layer pass as every main layer (its latent
// rows in cache layer num_hidden_layers at position p, RoPE position p; a chunk of several slots
// in the naive form as a prefill chunk, a single slot in the absorbed form), then shared_head.norm
// and the main model's lm_head on each item's last slot. The hidden states travel as bf16 (they
// are bf16 rows of the main model's residual stream, after its final norm).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/numeric.h"
#include "common/status_macros.h"
#include "kernels/bf16_gemm/bf16_gemm_cuda.h"
#include "kernels/embedding/embedding_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/mla_decode/mla_decode_flashinfer.h"
#include "worker/backend/cuda_model.h"
#include "worker/backend/decode_graphs.h"
#include "worker/backend/internal/cuda_layer_pass.h"

namespace r1 {

using kernels::internal::CudaStatus;

absl::Status CudaModel::DownloadHidden(const std::vector<ForwardItem>& items,
                                       std::vector<uint16_t>* host) {
  host->clear();
  bool wanted = false;
  int64_t n = 0;
  for (const ForwardItem& it : items) {
    wanted = wanted || it.hidden != nullptr;
    n += static_cast<int64_t>(it.tokens.size());
  }
  if (!wanted) return absl::OkStatus();
  const int64_t d = config().hidden_size;
  host->resize(n * d);
  return CudaStatus(cudaMemcpyAsync(host->data(), scratch_->h, n * d * sizeof(uint16_t),
                                    cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(stream_)),
                    "hidden states download");
}

void CudaModel::FillHidden(std::vector<ForwardItem>& items,
                           const std::vector<uint16_t>& host) const {
  if (host.empty()) return;
  const int64_t d = config().hidden_size;
  int64_t row0 = 0;
  for (ForwardItem& it : items) {
    const int64_t T = static_cast<int64_t>(it.tokens.size());
    if (it.hidden != nullptr) {
      it.hidden->resize(T * d);
      for (int64_t i = 0; i < T * d; ++i) (*it.hidden)[i] = Bf16ToFloat(host[row0 * d + i]);
    }
    row0 += T;
  }
}

absl::Status CudaModel::EnsureMtpScratch(int64_t rows) {
  if (rows <= mtp_rows_) return absl::OkStatus();
  // The previous buffer may still be read by work on the stream (an MTP forward that failed
  // before its closing synchronisation): it is retired, and freed after the next one.
  if (mtp_arena_ != nullptr) mtp_retired_.push_back(std::move(mtp_arena_));
  mtp_arena_ = std::make_unique<DeviceArena>();
  ++buffer_generation_;  // (a graph of an MTP pass points into it)
  mtp_rows_ = 0;
  ASSIGN_OR_RETURN(mtp_eh_, mtp_arena_->AllocArray<uint16_t>(rows * 2 * config().hidden_size));
  mtp_rows_ = rows;
  return absl::OkStatus();
}

absl::Status CudaModel::MtpForward(const std::vector<MtpItem>& items, PagedKvCache& cache,
                                   std::vector<std::vector<float>>* logits,
                                   std::vector<std::vector<float>>* hidden) {
  RETURN_IF_ERROR(CheckAllocator(cache));
  return MtpForward(items, logits, hidden);
}

absl::Status CudaModel::MtpForward(const std::vector<MtpItem>& items,
                                   std::vector<std::vector<float>>* logits,
                                   std::vector<std::vector<float>>* hidden) {
  logits->clear();
  hidden->clear();
  if (mtp_layers() == 0) return absl::FailedPreconditionError("the MTP module is not loaded");
  // An idle rank of an expert-parallel group still joins the MTP layer's exchange.
  if (items.empty()) return EmptyStep(/*mtp=*/true);
  std::vector<uint16_t> host_hidden;
  RETURN_IF_ERROR(RunMtpPass(items, &host_hidden));
  const ModelDims D = ModelDims::Of(*weights_);
  const int64_t V = D.vocab, rows = static_cast<int64_t>(items.size());
  auto stream = static_cast<cudaStream_t>(stream_);
  std::vector<float> host_logits(rows * V);
  RETURN_IF_ERROR(
      CudaStatus(cudaMemcpy2DAsync(host_logits.data(), V * 4, scratch_->logits, D.vocab_ld * 4,
                                   V * 4, rows, cudaMemcpyDeviceToHost, stream),
                 "MTP logits download"));
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), "MTP forward"));
  RETURN_IF_ERROR(EndMtp(StepPhase::kHost));
  logits->assign(rows, {});
  for (int64_t i = 0; i < rows; ++i) {
    (*logits)[i].assign(host_logits.begin() + i * V, host_logits.begin() + (i + 1) * V);
  }
  MtpHiddenRows(host_hidden, rows, hidden);
  return absl::OkStatus();
}

absl::Status CudaModel::MtpDraft(const std::vector<MtpItem>& items, PagedKvCache& cache,
                                 int64_t valid_vocab, std::vector<int>* drafts,
                                 std::vector<std::vector<float>>* hidden) {
  drafts->clear();
  hidden->clear();
  RETURN_IF_ERROR(CheckAllocator(cache));
  if (mtp_layers() == 0) return absl::FailedPreconditionError("the MTP module is not loaded");
  if (items.empty()) return EmptyStep(/*mtp=*/true);
  RETURN_IF_ERROR(CheckDraftVocab(valid_vocab, config()));
  std::vector<uint16_t> host_hidden;
  RETURN_IF_ERROR(RunMtpPass(items, &host_hidden));
  const ModelDims D = ModelDims::Of(*weights_);
  const int64_t rows = static_cast<int64_t>(items.size());
  auto stream = static_cast<cudaStream_t>(stream_);
  // The drafts are greedy: one argmax per row on the device, ids the only logits-sized result
  // that crosses to the host (Choose synchronises the stream, the hidden rows' copy included).
  const TokenChoiceSpec greedy;
  const std::vector<const TokenChoiceSpec*> specs(rows, &greedy);
  std::vector<TokenChoice> got;
  RETURN_IF_ERROR(
      chooser_.Choose(scratch_->logits, D.vocab_ld, D.vocab, valid_vocab, specs, stream, &got));
  RETURN_IF_ERROR(EndMtp(StepPhase::kSampling));
  for (const TokenChoice& c : got) drafts->push_back(c.id);
  MtpHiddenRows(host_hidden, rows, hidden);
  return absl::OkStatus();
}

absl::Status CudaModel::RunMtpPass(const std::vector<MtpItem>& items,
                                   std::vector<uint16_t>* host_hidden) {
  const uint16_t* normed = nullptr;
  RETURN_IF_ERROR(EnqueueMtp(items, &normed));
  RETURN_IF_ERROR(DrainExchanges());
  const int64_t d = config().hidden_size, rows = static_cast<int64_t>(items.size());
  host_hidden->resize(rows * d);
  return CudaStatus(cudaMemcpyAsync(host_hidden->data(), normed, rows * d * 2,
                                    cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(stream_)),
                    "MTP hidden download");
}

absl::Status CudaModel::EndMtp(StepPhase last) {
  experts_->ReleaseRetired();
  mtp_retired_.clear();
  if (options_.profiler == nullptr) return absl::OkStatus();
  RETURN_IF_ERROR(options_.profiler->Mark(last));
  return options_.profiler->End();
}

void CudaModel::MtpHiddenRows(const std::vector<uint16_t>& host, int64_t rows,
                              std::vector<std::vector<float>>* hidden) const {
  const int64_t d = config().hidden_size;
  hidden->assign(rows, {});
  for (int64_t i = 0; i < rows; ++i) {
    (*hidden)[i].resize(d);
    for (int64_t j = 0; j < d; ++j) (*hidden)[i][j] = Bf16ToFloat(host[i * d + j]);
  }
}

absl::Status CudaModel::EnqueueMtp(const std::vector<MtpItem>& items, const uint16_t** normed) {
  const ModelConfig& c = config();
  const int64_t d = c.hidden_size;
  // The slots as forward items at positions [start, start + m); each item's last slot goes
  // through lm_head.
  ASSIGN_OR_RETURN(std::vector<ForwardItem> fitems, MtpSlotsAsForwardItems(items, c));
  std::vector<int32_t> head_rows;
  int64_t n = 0;
  for (const MtpItem& it : items) {
    n += static_cast<int64_t>(it.next_tokens.size());
    head_rows.push_back(static_cast<int32_t>(n - 1));
  }
  // A pass of one slot per sequence (a chained draft, or a catch-up after one accepted token)
  // runs as a CUDA graph like a decode step (decode_graph_plan.h), padded with filler slots.
  int64_t exchange_key = 0;
  ASSIGN_OR_RETURN(const int64_t graph_tokens, GraphStepTokens(fitems, &exchange_key));
  const int64_t rows = graph_tokens > 0 ? graph_tokens : static_cast<int64_t>(items.size());
  RETURN_IF_ERROR(EnsureMtpScratch(std::max(n, graph_tokens)));
  BatchLayout b;
  RETURN_IF_ERROR(PrepareBatch(fitems, rows, graph_tokens, &b));
  CudaModelScratch& s = *scratch_;
  auto stream = static_cast<cudaStream_t>(stream_);
  // The incoming hidden states, as bf16 rows in Scratch::y (free until the layer's attention);
  // filler slots get zeros.
  {
    std::vector<uint16_t> h(n * d);
    int64_t row = 0;
    for (const MtpItem& it : items) {
      const int64_t m = static_cast<int64_t>(it.next_tokens.size());
      for (int64_t i = 0; i < m * d; ++i) h[row * d + i] = FloatToBf16(it.hidden[i]);
      row += m;
    }
    RETURN_IF_ERROR(CudaStatus(
        cudaMemcpyAsync(s.y, h.data(), h.size() * sizeof(uint16_t), cudaMemcpyHostToDevice, stream),
        "MTP hidden states upload"));
    if (b.n > n) {
      RETURN_IF_ERROR(CudaStatus(cudaMemsetAsync(s.y + n * d, 0, (b.n - n) * d * 2, stream),
                                 "MTP filler rows"));
    }
  }
  if (graph_tokens == 0) return EnqueueMtpLayers(b, head_rows, normed);
  *normed = s.h;  // every row goes through lm_head: no gather
  return RunAsGraph(b, exchange_key, /*mtp=*/true, &head_rows, [&]() {
    const uint16_t* unused = nullptr;
    return EnqueueMtpLayers(b, head_rows, &unused);
  });
}

absl::Status CudaModel::EnqueueMtpLayers(const BatchLayout& b,
                                         const std::vector<int32_t>& head_rows,
                                         const uint16_t** normed) {
  const ModelConfig& c = config();
  const ModelDims D = ModelDims::Of(*weights_);
  CudaModelScratch& s = *scratch_;
  auto stream = static_cast<cudaStream_t>(stream_);
  const int64_t n = b.n;
  LayerPass pass = NewPass(b, n);
  RETURN_IF_ERROR(pass.Mark(StepPhase::kHost));
  const DeviceMtp& M = weights_->mtp[0];
  kernels::EmbeddingParams ep{s.ids, weights_->embed, s.x, D.hidden, n, D.vocab, D.hidden};
  RETURN_IF_ERROR(kernels::LaunchEmbedding(ep, stream));
  // x' = eh_proj · [enorm(e) ; hnorm(h)], embedding first (spec §10, §15), into Scratch::x.
  RETURN_IF_ERROR(pass.Norm(s.x, D.hidden, nullptr, M.enorm, mtp_eh_, 2 * D.hidden, D.hidden));
  RETURN_IF_ERROR(
      pass.Norm(s.y, D.hidden, nullptr, M.hnorm, mtp_eh_ + D.hidden, 2 * D.hidden, D.hidden));
  RETURN_IF_ERROR(pass.Mark(StepPhase::kNorm));
  kernels::Bf16GemmParams g;
  g.x = mtp_eh_;
  g.x_ld = 2 * D.hidden;
  g.w = M.eh_proj;
  g.w_ld = 2 * D.hidden;
  g.out_bf16 = s.x;
  g.out_ld = D.hidden;
  g.m = n;
  g.n = D.hidden;
  g.k = 2 * D.hidden;
  g.workspace = s.gemm_ws;
  g.workspace_bytes = s.gemm_ws_bytes;
  RETURN_IF_ERROR(kernels::LaunchBf16Gemm(g, stream));
  RETURN_IF_ERROR(pass.Mark(StepPhase::kDenseGemm));
  RETURN_IF_ERROR(RunLayer(pass, static_cast<int>(c.num_hidden_layers), M.layer, b,
                           /*first=*/true));
  RETURN_IF_ERROR(pass.Norm(s.y, D.hidden, s.x, M.head_norm, s.h, D.hidden, D.hidden));
  RETURN_IF_ERROR(pass.Mark(StepPhase::kNorm));
  ASSIGN_OR_RETURN(*normed, LmHead(pass, head_rows, n));
  return absl::OkStatus();
}

}  // namespace r1
