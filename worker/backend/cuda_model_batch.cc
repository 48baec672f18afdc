// CudaModel's batch metadata: the step's ids, positions, cache slots, lengths and block tables
// on the device (with the filler tokens of a step run as a CUDA graph), the scratch and attention
// workspace grown to fit it, and its MLA decode planned.
#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/fp8_gemm/fp8_gemm_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/kv_write/kv_write_cuda.h"
#include "kernels/mla_decode/mla_decode_cuda.h"
#include "kernels/mla_decode/mla_decode_flashinfer.h"
#include "worker/backend/cuda_model.h"
#include "worker/backend/decode_graph_plan.h"
#include "worker/backend/internal/cuda_layer_pass.h"
#include "worker/backend/pinned_upload.h"

namespace r1 {

using kernels::internal::CudaStatus;

namespace {
// The metadata block: a head (the valid token count, padded to 16 bytes), then the per-token
// arrays before the block table: ids, positions, slots, lengths.
constexpr int64_t kMetadataHead = 4;
constexpr int64_t kMetadataArrays = 4;
}  // namespace

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
  max_pages = DecodeGraphTableWidth(max_pages);
  scratch_.reset();
  ++buffer_generation_;
  auto s = std::make_unique<CudaModelScratch>();
  const ModelDims D = ModelDims::Of(*weights_);
  s->tokens = n;
  s->max_pages = max_pages;
  s->logit_rows = logit_rows;
  s->gather_rows = gather_rows;
  DeviceArena& a = s->arena;
  const int64_t nk = n * std::max<int64_t>(D.top_k, 1);
  const int64_t kmax = std::max({D.hidden, D.q_lora, D.attn_out_pad, D.ffn_inter_pad});
  // The step's metadata in one block, uploaded in one copy (PrepareBatch): the count of the
  // items' tokens (the rest are a graph step's fillers; padded to 16 bytes), ids, positions,
  // cache slots and lengths ([n] each), then the block table ([n][max_pages]).
  ASSIGN_OR_RETURN(s->valid_tokens,
                   a.AllocArray<int32_t>(kMetadataHead + n * (kMetadataArrays + max_pages)));
  s->ids = s->valid_tokens + kMetadataHead;
  s->positions = s->ids + n;
  s->slots = s->ids + 2 * n;
  s->seq_lens = s->ids + 3 * n;
  s->block_table = s->ids + kMetadataArrays * n;
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
  ++buffer_generation_;
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

absl::Status CudaModel::PrepareBatch(const std::vector<ForwardItem>& items, int64_t logit_rows,
                                     int64_t graph_tokens, BatchLayout* b) {
  // (The filler block, kv_blocks_, is not the items'.)
  ASSIGN_OR_RETURN(BatchTokens bt, CollectBatchTokens(items, kv_blocks_));
  std::vector<int32_t>& ids = bt.ids;
  std::vector<int32_t>& positions = bt.positions;
  std::vector<int32_t>& slots = bt.slots;
  std::vector<int32_t>& seq_lens = bt.seq_lens;
  const int64_t max_pages = bt.max_pages, max_len = bt.max_len;
  // A step run as a CUDA graph is padded to its bucket by filler tokens.
  const int64_t real_n = static_cast<int64_t>(ids.size());
  PadWithFillers(&bt, graph_tokens, filler_block());
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
  // Inside a graph our MLA decode runs with a bucketed length bound (its split count), so the
  // graph serves the sequences while they grow to it.
  const int64_t graph_max_len = DecodeGraphMaxLen(max_len);
  RETURN_IF_ERROR(EnsureScratch(n, max_pages, logit_rows, b->gather_rows));
  RETURN_IF_ERROR(EnsureAttentionWorkspace(n, graph_tokens > 0 ? graph_max_len : max_len));
  CudaModelScratch& s = *scratch_;
  // The metadata block as the scratch lays it out (sections at its capacity's offsets), staged
  // in pinned memory: one asynchronous copy per step.
  const int64_t cap = s.tokens;
  const size_t meta_ints =
      static_cast<size_t>(kMetadataHead + kMetadataArrays * cap + n * s.max_pages);
  ASSIGN_OR_RETURN(void* staged, metadata_upload_->Stage(meta_ints * sizeof(int32_t)));
  static_cast<int32_t*>(staged)[0] = static_cast<int32_t>(real_n);
  int32_t* meta = static_cast<int32_t*>(staged) + kMetadataHead;
  std::copy(ids.begin(), ids.end(), meta);
  std::copy(positions.begin(), positions.end(), meta + cap);
  std::copy(slots.begin(), slots.end(), meta + 2 * cap);
  std::copy(seq_lens.begin(), seq_lens.end(), meta + 3 * cap);
  int32_t* table = meta + kMetadataArrays * cap;
  std::fill(table, table + n * s.max_pages, 0);
  {
    int64_t t = 0;
    for (const ForwardItem& it : items) {
      for (size_t j = 0; j < it.tokens.size(); ++j, ++t) {
        std::copy(it.kv->blocks.begin(), it.kv->blocks.end(), table + t * s.max_pages);
      }
    }
    for (; t < n; ++t) table[t * s.max_pages] = static_cast<int32_t>(filler_block());
  }
  auto stream = static_cast<cudaStream_t>(stream_);
  if (options_.profiler != nullptr) RETURN_IF_ERROR(options_.profiler->Begin(stream));
  RETURN_IF_ERROR(metadata_upload_->Upload(s.valid_tokens, meta_ints * sizeof(int32_t), stream));
  if (b->gather_rows > 0) RETURN_IF_ERROR(Upload(s.gather_slots, gather_slots));
  ASSIGN_OR_RETURN(b->fi_mla, PlanMlaDecode(seq_lens, max_len, s.max_pages));
  if (graph_tokens > 0 && b->fi_mla == nullptr) b->max_len = graph_max_len;
  return absl::OkStatus();
}

absl::Status CudaModel::Upload(int32_t* dst, const std::vector<int32_t>& v) {
  return CudaStatus(cudaMemcpyAsync(dst, v.data(), v.size() * 4, cudaMemcpyHostToDevice,
                                    static_cast<cudaStream_t>(stream_)),
                    "forward metadata upload");
}

}  // namespace r1
