#include "worker/model/forward_model.h"

#include "absl/strings/str_cat.h"
#include "worker/model/cpu_ops.h"

namespace r1 {

absl::Status ChooseFromItemLogits(const std::vector<ForwardItem>& items, int64_t vocab,
                                  int64_t valid_vocab, std::vector<std::vector<float>>* logits,
                                  std::vector<TokenChoice>* chosen) {
  chosen->assign(items.size(), {});
  if (logits->size() != items.size()) {
    return absl::InternalError("token choice: one row of logits per item expected");
  }
  // Gather the rows to choose from into one block (the kernels' [rows][vocab] layout).
  std::vector<int> which;
  std::vector<const TokenChoiceSpec*> specs;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].choose == nullptr) continue;
    if (static_cast<int64_t>((*logits)[i].size()) != vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("forward item ", i, ": token choice needs exactly one row of logits"));
    }
    which.push_back(static_cast<int>(i));
    specs.push_back(items[i].choose);
  }
  std::vector<float> rows(which.size() * vocab);
  for (size_t r = 0; r < which.size(); ++r) {
    std::copy((*logits)[which[r]].begin(), (*logits)[which[r]].end(), rows.begin() + r * vocab);
  }
  std::vector<TokenChoice> got;
  if (auto st = ChooseTokensOnHost(rows.data(), vocab, vocab, valid_vocab, specs, &got); !st.ok()) {
    return st;
  }
  for (size_t r = 0; r < which.size(); ++r) (*chosen)[which[r]] = std::move(got[r]);
  return absl::OkStatus();
}

absl::Status CheckItemsForChoice(const std::vector<ForwardItem>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].all_logits) {
      return absl::InvalidArgumentError(
          absl::StrCat("forward item ", i, ": all_logits with a token choice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ForwardModel::ForwardAndChoose(std::vector<ForwardItem>& items, PagedKvCache& cache,
                                            int64_t valid_vocab, std::vector<TokenChoice>* chosen) {
  if (auto st = CheckItemsForChoice(items); !st.ok()) return st;
  std::vector<std::vector<float>> logits;
  if (auto st = Forward(items, cache, &logits); !st.ok()) return st;
  return ChooseFromItemLogits(items, config().vocab_size, valid_vocab, &logits, chosen);
}

absl::Status ForwardModel::MtpForward(const std::vector<MtpItem>& items, PagedKvCache& cache,
                                      std::vector<std::vector<float>>* logits,
                                      std::vector<std::vector<float>>* hidden) {
  return absl::UnimplementedError("this model has no MTP module");
}

void CpuHeadLogits(std::vector<ForwardItem>& items, const float* x, int64_t d,
                   const float* final_norm, float eps, const float* head, int64_t V,
                   bool fill_hidden, std::vector<std::vector<float>>* logits) {
  logits->assign(items.size(), {});
  int64_t offset = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int64_t T = static_cast<int64_t>(items[i].tokens.size());
    const int64_t rows = items[i].all_logits ? T : 1;
    const int64_t first = offset + T - rows;
    std::vector<float> normed(rows * d);
    cpu::RmsNorm(&x[first * d], final_norm, normed.data(), rows, d, eps);
    (*logits)[i].resize(rows * V);
    cpu::MatMulNT(normed.data(), head, (*logits)[i].data(), rows, V, d);
    if (fill_hidden && items[i].hidden != nullptr) {
      items[i].hidden->resize(T * d);
      cpu::RmsNorm(&x[offset * d], final_norm, items[i].hidden->data(), T, d, eps);
    }
    offset += T;
  }
}

absl::StatusOr<std::vector<ForwardItem>> MtpSlotsAsForwardItems(const std::vector<MtpItem>& items,
                                                                const ModelConfig& config) {
  std::vector<ForwardItem> out(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const MtpItem& it = items[i];
    const int64_t m = static_cast<int64_t>(it.next_tokens.size());
    if (it.kv == nullptr || m == 0 || it.hidden == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("mtp item ", i, ": empty"));
    }
    if (it.start < 0 || it.start + m > it.kv->capacity() ||
        it.start + m > config.max_position_embeddings) {
      return absl::InvalidArgumentError(absl::StrCat("mtp item ", i, ": slots [", it.start, ", ",
                                                     it.start + m, ") exceed the capacity"));
    }
    for (int tok : it.next_tokens) {
      if (tok < 0 || tok >= config.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("mtp item ", i, ": token id ", tok, " out of range"));
      }
    }
    out[i].kv = it.kv;
    out[i].tokens = it.next_tokens;
    out[i].start = it.start;
  }
  return out;
}

}  // namespace r1
