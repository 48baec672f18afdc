#include "bench/serving/r1_rank/speculative_steps.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace r1 {
namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

double ExpectedTokensPerStep(int k, double acceptance) {
  double sum = 0, term = 1;
  for (int i = 0; i <= k; ++i) {
    sum += term;
    term *= acceptance;
  }
  return sum;
}

absl::StatusOr<SpeculativeStepTimes> TimeSpeculativeSteps(CudaModel& model, PagedKvCache& cache,
                                                          std::vector<KvSequence>& seqs, int k,
                                                          int steps) {
  if (k < 1 || steps < 1) return absl::InvalidArgumentError("speculative steps: k, steps ≥ 1");
  if (model.mtp_layers() == 0) {
    return absl::FailedPreconditionError("speculative steps: the model has no MTP module");
  }
  const int64_t d = model.config().hidden_size;
  const TokenChoiceSpec greedy;
  std::vector<double> verify, draft, whole;
  for (int it = 0; it < 2 + steps; ++it) {
    std::vector<int64_t> lengths;
    std::vector<ForwardItem> items;
    std::vector<std::vector<float>> hidden(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      lengths.push_back(seqs[i].length);
      std::vector<int> tokens(1 + k);
      for (int j = 0; j <= k; ++j) tokens[j] = 100 + 7 * j + static_cast<int>(i);
      ForwardItem item{&seqs[i], std::move(tokens), seqs[i].length, /*all_logits=*/true, &greedy};
      item.decode_attention = true;
      item.hidden = &hidden[i];
      items.push_back(std::move(item));
    }
    std::vector<std::vector<float>> mtp_logits, mtp_hidden;
    std::vector<TokenChoice> chosen;
    const absl::Time t0 = absl::Now();
    RETURN_IF_ERROR(model.ForwardAndChoose(items, cache, model.config().vocab_size, &chosen));
    const absl::Time t1 = absl::Now();
    // Catch-up: slots at the k + 1 positions just cached, each with the token after it.
    std::vector<MtpItem> slots;
    for (size_t i = 0; i < seqs.size(); ++i) {
      std::vector<int> next(items[i].tokens.begin() + 1, items[i].tokens.end());
      next.push_back(200 + static_cast<int>(i));  // the verification's own next token
      slots.push_back({&seqs[i], lengths[i], std::move(next), hidden[i].data()});
    }
    RETURN_IF_ERROR(model.MtpForward(slots, cache, &mtp_logits, &mtp_hidden));
    // Chained drafts: one slot per sequence per depth, from the previous pass's hidden state.
    for (int depth = 2; depth <= k; ++depth) {
      std::vector<std::vector<float>> chained_hidden = std::move(mtp_hidden);
      slots.clear();
      for (size_t i = 0; i < seqs.size(); ++i) {
        if (chained_hidden[i].size() < static_cast<size_t>(d)) {
          return absl::InternalError("speculative steps: MTP pass returned no hidden state");
        }
        slots.push_back({&seqs[i],
                         seqs[i].length + depth - 2,
                         {300 + depth},
                         chained_hidden[i].data() + chained_hidden[i].size() - d});
      }
      RETURN_IF_ERROR(model.MtpForward(slots, cache, &mtp_logits, &mtp_hidden));
    }
    const absl::Time t2 = absl::Now();
    for (size_t i = 0; i < seqs.size(); ++i) seqs[i].length = lengths[i];
    if (it >= 2) {
      verify.push_back(absl::ToDoubleSeconds(t1 - t0));
      draft.push_back(absl::ToDoubleSeconds(t2 - t1));
      whole.push_back(absl::ToDoubleSeconds(t2 - t0));
    }
  }
  return SpeculativeStepTimes{Median(verify), Median(draft), Median(whole)};
}

}  // namespace r1
