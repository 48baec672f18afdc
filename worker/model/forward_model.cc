#include "worker/model/forward_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/model/cpu_ops.h"

namespace r1 {

absl::Status CheckCacheBlocks(const PagedKvCache& cache, int64_t device_blocks, const char* model) {
  if (cache.num_blocks() != device_blocks) {
    return absl::FailedPreconditionError(absl::StrCat(model, ": the block allocator has ",
                                                      cache.num_blocks(),
                                                      " blocks, the device cache ", device_blocks));
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchTokens> CollectBatchTokens(const std::vector<ForwardItem>& items,
                                               int64_t kv_blocks) {
  BatchTokens b;
  for (size_t i = 0; i < items.size(); ++i) {
    const ForwardItem& it = items[i];
    for (int block : it.kv->blocks) {
      if (block < 0 || block >= kv_blocks) {
        return absl::InvalidArgumentError(absl::StrCat("forward item ", i, ": KV block ", block,
                                                       " outside [0, ", kv_blocks, ")"));
      }
    }
    b.max_pages = std::max<int64_t>(b.max_pages, static_cast<int64_t>(it.kv->blocks.size()));
    b.max_len = std::max(b.max_len, it.start + static_cast<int64_t>(it.tokens.size()));
    for (size_t t = 0; t < it.tokens.size(); ++t) {
      const int64_t pos = it.start + static_cast<int64_t>(t);
      b.ids.push_back(it.tokens[t]);
      b.positions.push_back(static_cast<int32_t>(pos));
      b.slots.push_back(static_cast<int32_t>(it.kv->blocks[pos / kBlockTokens] * kBlockTokens +
                                             pos % kBlockTokens));
      b.seq_lens.push_back(static_cast<int32_t>(pos + 1));
    }
  }
  return b;
}

bool PlainGreedy(const TokenChoiceSpec& spec) {
  return spec.temperature <= 0 && !spec.penalized() && spec.bias.empty() && !spec.logprobs;
}

absl::Status CheckItemsForChoice(const std::vector<ForwardItem>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].all_logits && items[i].choose != nullptr && !PlainGreedy(*items[i].choose)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward item ", i, ": all_logits with a token choice that is not plain greedy"));
    }
  }
  return absl::OkStatus();
}

int64_t LogitRowCount(const ForwardItem& item) {
  return item.all_logits ? static_cast<int64_t>(item.tokens.size()) : 1;
}

std::vector<int32_t> LogitRows(const std::vector<ForwardItem>& items) {
  std::vector<int32_t> rows;
  int64_t token0 = 0;
  for (const ForwardItem& it : items) {
    const int64_t T = static_cast<int64_t>(it.tokens.size());
    for (int64_t t = T - LogitRowCount(it); t < T; ++t) {
      rows.push_back(static_cast<int32_t>(token0 + t));
    }
    token0 += T;
  }
  return rows;
}

void SplitLogitRows(const std::vector<ForwardItem>& items, const std::vector<float>& rows,
                    int64_t vocab, std::vector<std::vector<float>>* logits) {
  logits->assign(items.size(), {});
  int64_t row0 = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int64_t n = LogitRowCount(items[i]);
    (*logits)[i].assign(rows.begin() + row0 * vocab, rows.begin() + (row0 + n) * vocab);
    row0 += n;
  }
}

std::vector<const TokenChoiceSpec*> RowChoiceSpecs(const std::vector<ForwardItem>& items,
                                                   const TokenChoiceSpec* fallback) {
  std::vector<const TokenChoiceSpec*> specs;
  for (const ForwardItem& it : items) {
    specs.insert(specs.end(), LogitRowCount(it), it.choose != nullptr ? it.choose : fallback);
  }
  return specs;
}

void KeepChosenRows(const std::vector<ForwardItem>& items, std::vector<TokenChoice>* got,
                    std::vector<TokenChoice>* chosen) {
  chosen->clear();
  size_t r = 0;
  for (const ForwardItem& it : items) {
    for (int64_t k = 0; k < LogitRowCount(it); ++k, ++r) {
      chosen->push_back(it.choose != nullptr && r < got->size() ? std::move((*got)[r])
                                                                : TokenChoice{});
    }
  }
}

absl::Status ChooseFromItemLogits(const std::vector<ForwardItem>& items, int64_t vocab,
                                  int64_t valid_vocab, std::vector<std::vector<float>>* logits,
                                  std::vector<TokenChoice>* chosen) {
  chosen->clear();
  if (logits->size() != items.size()) {
    return absl::InternalError("token choice: the rows of every item expected");
  }
  // Gather the rows to choose from into one block (the kernels' [rows][vocab] layout).
  std::vector<float> rows;
  std::vector<const TokenChoiceSpec*> specs;
  for (size_t i = 0; i < items.size(); ++i) {
    const int64_t n = LogitRowCount(items[i]);
    if (items[i].choose == nullptr) continue;
    if (static_cast<int64_t>((*logits)[i].size()) != n * vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("forward item ", i, ": token choice needs ", n, " rows of logits"));
    }
    rows.insert(rows.end(), (*logits)[i].begin(), (*logits)[i].end());
    specs.insert(specs.end(), n, items[i].choose);
  }
  std::vector<TokenChoice> got;
  if (auto st = ChooseTokensOnHost(rows.data(), vocab, vocab, valid_vocab, specs, &got); !st.ok()) {
    return st;
  }
  // Back to one entry per row of every item (empty for items without a spec).
  size_t r = 0;
  for (const ForwardItem& it : items) {
    for (int64_t k = 0; k < LogitRowCount(it); ++k) {
      chosen->push_back(it.choose != nullptr ? std::move(got[r++]) : TokenChoice{});
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

absl::Status CheckDraftVocab(int64_t valid_vocab, const ModelConfig& config) {
  if (valid_vocab <= 0 || valid_vocab > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("MTP draft: valid_vocab ", valid_vocab,
                                                   " outside [1, ", config.vocab_size, "]"));
  }
  return absl::OkStatus();
}

absl::Status ForwardModel::MtpDraft(const std::vector<MtpItem>& items, PagedKvCache& cache,
                                    int64_t valid_vocab, std::vector<int>* drafts,
                                    std::vector<std::vector<float>>* hidden) {
  drafts->clear();
  RETURN_IF_ERROR(CheckDraftVocab(valid_vocab, config()));
  std::vector<std::vector<float>> logits;
  RETURN_IF_ERROR(MtpForward(items, cache, &logits, hidden));
  for (const std::vector<float>& row : logits) {
    if (static_cast<int64_t>(row.size()) < valid_vocab) {
      return absl::InternalError("MTP draft: a logits row shorter than valid_vocab");
    }
    drafts->push_back(
        static_cast<int>(std::max_element(row.begin(), row.begin() + valid_vocab) - row.begin()));
  }
  return absl::OkStatus();
}

void CpuHeadLogits(std::vector<ForwardItem>& items, const float* x, int64_t d,
                   const float* final_norm, float eps, const float* head, int64_t V,
                   bool fill_hidden, std::vector<std::vector<float>>* logits) {
  logits->assign(items.size(), {});
  int64_t offset = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int64_t T = static_cast<int64_t>(items[i].tokens.size());
    const int64_t rows = LogitRowCount(items[i]);
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
