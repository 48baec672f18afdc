// CpuModel's MTP module (spec §10): the draft forward of speculative decoding.
//
// Slot p (main-model position p) takes the main model's final hidden state h_p — after
// model.norm, as the spec and tools/train_tiny/model.py's MtpModule (which trained r1-tiny's MTP
// layer) have it — and the embedding of the token t_{p+1}, runs at RoPE position p through the
// MTP decoder layer, whose latent rows live in cache layer num_hidden_layers at position p, and
// predicts t_{p+2} through shared_head.norm and the main model's lm_head.
//
// In an expert-parallel group (ModelOptions::expert_executor) the MTP layer's routed experts are
// spread over the ranks like every main MoE layer's (the placement's layer num_hidden_layers)
// and its MoE runs through the executor: every call is one more lockstep exchange, so every rank
// makes the same number of calls per step, with no items where it has nothing to draft (an empty
// exchange; the engine's Draft sees to it).
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/model/cpu_model.h"
#include "worker/model/cpu_ops.h"

namespace r1 {

int CpuModel::mtp_layers() const { return weights_->mtp.empty() ? 0 : 1; }

absl::Status CpuModel::MtpForward(const std::vector<MtpItem>& items, PagedKvCache& cache,
                                  std::vector<std::vector<float>>* logits,
                                  std::vector<std::vector<float>>* hidden) {
  const ModelConfig& c = config();
  if (mtp_layers() == 0) return absl::FailedPreconditionError("the MTP module is not loaded");
  const MtpWeights& M = weights_->mtp[0];
  const int mtp_layer = static_cast<int>(c.num_hidden_layers);
  const int64_t d = c.hidden_size, V = c.vocab_size;
  const float eps = static_cast<float>(c.rms_norm_eps);

  // The slots as forward items (only kv, start and the slot count are read by attention).
  ASSIGN_OR_RETURN(std::vector<ForwardItem> fitems, MtpSlotsAsForwardItems(items, c));
  std::vector<TokenRef> refs;
  for (size_t i = 0; i < items.size(); ++i) {
    for (int64_t t = 0; t < static_cast<int64_t>(items[i].next_tokens.size()); ++t) {
      refs.push_back({static_cast<int>(i), items[i].start + t});
    }
  }
  const int64_t n = static_cast<int64_t>(refs.size());

  // x' = eh_proj · [enorm(Emb(t_{p+1})) ; hnorm(h_p)], embedding first (spec §10, §15).
  std::vector<float> eh(n * 2 * d), x(n * d);
  int64_t row = 0;
  for (const MtpItem& it : items) {
    for (size_t t = 0; t < it.next_tokens.size(); ++t, ++row) {
      const float* emb = &weights_->embed[static_cast<int64_t>(it.next_tokens[t]) * d];
      cpu::RmsNorm(emb, M.enorm.data(), &eh[row * 2 * d], 1, d, eps);
      cpu::RmsNorm(it.hidden + t * d, M.hnorm.data(), &eh[row * 2 * d + d], 1, d, eps);
    }
  }
  Linear(M.eh_proj, eh.data(), n, x.data());
  RETURN_IF_ERROR(DecoderLayer(mtp_layer, fitems, refs, cache, x.data()));

  logits->assign(items.size(), {});
  hidden->assign(items.size(), {});
  int64_t offset = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int64_t last = offset + static_cast<int64_t>(items[i].next_tokens.size()) - 1;
    (*hidden)[i].resize(d);
    cpu::RmsNorm(&x[last * d], M.head_norm.data(), (*hidden)[i].data(), 1, d, eps);
    (*logits)[i].resize(V);
    cpu::MatMulNT((*hidden)[i].data(), weights_->lm_head.w.data(), (*logits)[i].data(), 1, V, d);
    offset = last + 1;
  }
  return absl::OkStatus();
}

}  // namespace r1
