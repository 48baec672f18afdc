#include "worker/model/token_choice.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/logits_process/logits_process.h"
#include "kernels/logprobs/logprobs.h"
#include "kernels/sampling/sampling.h"

namespace r1 {

absl::Status ValidatePenaltiesAndLogprobs(float presence_penalty, float frequency_penalty,
                                          float repetition_penalty, int top_logprobs) {
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
    return absl::InvalidArgumentError("presence_penalty must be in [-2, 2]");
  }
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    return absl::InvalidArgumentError("frequency_penalty must be in [-2, 2]");
  }
  if (!(repetition_penalty > 0.0f && repetition_penalty <= 2.0f)) {
    return absl::InvalidArgumentError("repetition_penalty must be in (0, 2]");
  }
  if (top_logprobs < 0 || top_logprobs > kMaxTopLogprobs) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_logprobs must be in [0, ", kMaxTopLogprobs, "]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTokenChoiceSpec(const TokenChoiceSpec& s, int64_t vocab) {
  if (!std::isfinite(s.temperature))
    return absl::InvalidArgumentError("temperature must be finite");
  if (!(s.top_p > 0.0f)) return absl::InvalidArgumentError("top_p must be > 0");
  if (auto st = ValidatePenaltiesAndLogprobs(s.presence_penalty, s.frequency_penalty,
                                             s.repetition_penalty, s.top_logprobs);
      !st.ok()) {
    return st;
  }
  if (s.penalized() && s.history == nullptr) {
    return absl::InvalidArgumentError("a penalized token choice needs the sequence's history");
  }
  for (const auto& [id, bias] : s.bias) {
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("bias token id ", id, " is out of range"));
    }
    if (std::isnan(bias)) return absl::InvalidArgumentError("bias must not be NaN");
  }
  return absl::OkStatus();
}

absl::StatusOr<PackedTokenChoices> PackTokenChoices(
    const std::vector<const TokenChoiceSpec*>& specs, int64_t vocab) {
  for (const TokenChoiceSpec* s : specs) {
    if (s == nullptr) return absl::InvalidArgumentError("null token choice spec");
    if (auto st = ValidateTokenChoiceSpec(*s, vocab); !st.ok()) return st;
  }
  PackedTokenChoices p;
  p.rows = static_cast<int64_t>(specs.size());
  for (const TokenChoiceSpec* s : specs) {
    p.any_penalty = p.any_penalty || s->penalized();
    p.any_bias = p.any_bias || !s->bias.empty();
  }
  if (p.any_penalty) p.history_offsets.push_back(0);
  if (p.any_bias) p.bias_offsets.push_back(0);
  for (size_t r = 0; r < specs.size(); ++r) {
    const TokenChoiceSpec& s = *specs[r];
    p.temperature.push_back(s.temperature);
    p.top_p.push_back(s.top_p);
    p.top_k.push_back(s.top_k);
    p.seed.push_back(s.seed);
    p.offset.push_back(s.offset);
    if (p.any_penalty) {
      p.presence_penalty.push_back(s.presence_penalty);
      p.frequency_penalty.push_back(s.frequency_penalty);
      p.repetition_penalty.push_back(s.repetition_penalty);
      if (s.penalized()) {
        for (const auto& [id, count] : *s.history) {
          p.history_ids.push_back(id);
          p.history_output_counts.push_back(count);
        }
      }
      p.history_offsets.push_back(static_cast<int32_t>(p.history_ids.size()));
    }
    if (p.any_bias) {
      for (const auto& [id, bias] : s.bias) {
        p.bias_ids.push_back(id);
        p.bias_values.push_back(bias);
      }
      p.bias_offsets.push_back(static_cast<int32_t>(p.bias_ids.size()));
    }
    if (s.logprobs) {
      p.logprob_rows.push_back(static_cast<int32_t>(r));
      p.top_n = std::max(p.top_n, s.top_logprobs);
    }
  }
  return p;
}

absl::Status ChooseTokensOnHost(float* logits, int64_t stride, int64_t vocab, int64_t valid_vocab,
                                const std::vector<const TokenChoiceSpec*>& specs,
                                std::vector<TokenChoice>* out) {
  if (valid_vocab <= 0 || valid_vocab > vocab) valid_vocab = vocab;
  absl::StatusOr<PackedTokenChoices> packed = PackTokenChoices(specs, vocab);
  if (!packed.ok()) return packed.status();
  const PackedTokenChoices& p = *packed;
  const int64_t rows = p.rows;
  out->assign(rows, {});
  if (rows == 0) return absl::OkStatus();
  // 1. The raw rows that report logprobs, kept before processing changes them.
  const int64_t lp_rows = static_cast<int64_t>(p.logprob_rows.size());
  std::vector<float> raw(lp_rows * stride);
  for (int64_t i = 0; i < lp_rows; ++i) {
    std::memcpy(&raw[i * stride], logits + p.logprob_rows[i] * stride, vocab * sizeof(float));
  }
  // 2. Processing.
  kernels::LogitsProcessParams lp;
  lp.logits = logits;
  lp.logits_stride = stride;
  lp.rows = rows;
  lp.vocab = vocab;
  lp.valid_vocab = valid_vocab;
  if (p.any_penalty) {
    lp.presence_penalty = p.presence_penalty.data();
    lp.frequency_penalty = p.frequency_penalty.data();
    lp.repetition_penalty = p.repetition_penalty.data();
    lp.history_offsets = p.history_offsets.data();
    lp.history_ids = p.history_ids.data();
    lp.history_output_counts = p.history_output_counts.data();
  }
  if (p.any_bias) {
    lp.bias_offsets = p.bias_offsets.data();
    lp.bias_ids = p.bias_ids.data();
    lp.bias_values = p.bias_values.data();
  }
  if (auto st = kernels::LogitsProcessReference(lp); !st.ok()) return st;
  // 3. The draw.
  std::vector<int32_t> ids(rows);
  kernels::SamplingParams sp;
  sp.logits = logits;
  sp.logits_stride = stride;
  sp.rows = rows;
  sp.vocab = valid_vocab;
  sp.temperature = p.temperature.data();
  sp.top_k = p.top_k.data();
  sp.top_p = p.top_p.data();
  sp.seed = p.seed.data();
  sp.offset = p.offset.data();
  sp.out = ids.data();
  if (auto st = kernels::SamplingReference(sp); !st.ok()) return st;
  for (int64_t r = 0; r < rows; ++r) (*out)[r].id = ids[r];
  // 4. Logprobs of the chosen ids over the raw rows.
  if (lp_rows > 0) {
    std::vector<int32_t> chosen(lp_rows), top_ids(lp_rows * p.top_n);
    std::vector<float> chosen_lp(lp_rows), top_lp(lp_rows * p.top_n);
    for (int64_t i = 0; i < lp_rows; ++i) chosen[i] = ids[p.logprob_rows[i]];
    kernels::LogprobsParams q;
    q.logits = raw.data();
    q.logits_stride = stride;
    q.rows = lp_rows;
    q.vocab = valid_vocab;
    q.chosen = chosen.data();
    q.top_n = p.top_n;
    q.out_chosen_logprob = chosen_lp.data();
    q.out_top_ids = p.top_n > 0 ? top_ids.data() : nullptr;
    q.out_top_logprobs = p.top_n > 0 ? top_lp.data() : nullptr;
    if (auto st = kernels::LogprobsReference(q); !st.ok()) return st;
    for (int64_t i = 0; i < lp_rows; ++i) {
      TokenChoice& c = (*out)[p.logprob_rows[i]];
      c.logprob = chosen_lp[i];
      const int n = specs[p.logprob_rows[i]]->top_logprobs;
      for (int j = 0; j < n; ++j) {
        c.top.emplace_back(top_ids[i * p.top_n + j], top_lp[i * p.top_n + j]);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace r1
