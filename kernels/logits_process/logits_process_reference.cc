#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/logits_process/logits_process.h"

namespace r1::kernels {

absl::Status ValidateLogitsProcess(const LogitsProcessParams& p) {
  if (p.rows < 0 || p.vocab <= 0 || p.vocab >= (int64_t{1} << 31) || p.logits_stride < p.vocab) {
    return absl::InvalidArgumentError("logits_process: bad shape");
  }
  if (p.valid_vocab <= 0 || p.valid_vocab > p.vocab) {
    return absl::InvalidArgumentError("logits_process: valid_vocab not in (0, vocab]");
  }
  if (p.rows == 0) return absl::OkStatus();
  if (p.logits == nullptr) return absl::InvalidArgumentError("logits_process: null logits");
  const bool penalties = p.presence_penalty != nullptr || p.frequency_penalty != nullptr ||
                         p.repetition_penalty != nullptr;
  if (penalties && p.history_offsets == nullptr) {
    return absl::InvalidArgumentError("logits_process: penalties without history_offsets");
  }
  if (p.history_offsets != nullptr &&
      (p.history_ids == nullptr || p.history_output_counts == nullptr)) {
    return absl::InvalidArgumentError("logits_process: history_offsets without ids or counts");
  }
  if (p.bias_offsets != nullptr && (p.bias_ids == nullptr || p.bias_values == nullptr)) {
    return absl::InvalidArgumentError("logits_process: bias_offsets without ids or values");
  }
  return absl::OkStatus();
}

namespace {

// Checks one CSR list: offsets non-decreasing from ≥ 0, every id in [0, vocab).
absl::Status CheckCsr(const char* what, const int32_t* offsets, const int32_t* ids, int64_t rows,
                      int64_t vocab) {
  if (offsets[0] < 0) return absl::InvalidArgumentError(absl::StrCat(what, ": negative offset"));
  for (int64_t r = 0; r < rows; ++r) {
    if (offsets[r + 1] < offsets[r]) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": offsets decrease at row ", r));
    }
  }
  for (int64_t j = offsets[0]; j < offsets[rows]; ++j) {
    if (ids[j] < 0 || ids[j] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": id ", ids[j], " out of range"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckContents(const LogitsProcessParams& p) {
  if (p.bias_offsets != nullptr) {
    if (auto st = CheckCsr("logits_process bias", p.bias_offsets, p.bias_ids, p.rows, p.vocab);
        !st.ok()) {
      return st;
    }
  }
  if (p.history_offsets != nullptr) {
    if (auto st =
            CheckCsr("logits_process history", p.history_offsets, p.history_ids, p.rows, p.vocab);
        !st.ok()) {
      return st;
    }
    std::vector<int32_t> ids;
    for (int64_t r = 0; r < p.rows; ++r) {
      const int32_t b = p.history_offsets[r], e = p.history_offsets[r + 1];
      ids.assign(p.history_ids + b, p.history_ids + e);
      std::sort(ids.begin(), ids.end());
      if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("logits_process: repeated history id in row ", r));
      }
      for (int32_t j = b; j < e; ++j) {
        if (p.history_output_counts[j] < 0) {
          return absl::InvalidArgumentError("logits_process: negative output count");
        }
      }
    }
  }
  if (p.repetition_penalty != nullptr) {
    for (int64_t r = 0; r < p.rows; ++r) {
      if (!(p.repetition_penalty[r] > 0.0f)) {
        return absl::InvalidArgumentError(
            absl::StrCat("logits_process: repetition penalty of row ", r, " not > 0"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LogitsProcessReference(const LogitsProcessParams& p) {
  if (auto st = ValidateLogitsProcess(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  if (auto st = CheckContents(p); !st.ok()) return st;
  const bool rep = p.repetition_penalty != nullptr;
  const bool freq = p.presence_penalty != nullptr || p.frequency_penalty != nullptr;
  for (int64_t r = 0; r < p.rows; ++r) {
    float* logits = p.logits + r * p.logits_stride;
    if (p.bias_offsets != nullptr) {
      for (int32_t j = p.bias_offsets[r]; j < p.bias_offsets[r + 1]; ++j) {
        logits[p.bias_ids[j]] += p.bias_values[j];
      }
    }
    if (rep) {
      const float penalty = p.repetition_penalty[r];
      for (int32_t j = p.history_offsets[r]; j < p.history_offsets[r + 1]; ++j) {
        float& l = logits[p.history_ids[j]];
        l = l > 0.0f ? l / penalty : l * penalty;
      }
    }
    if (freq) {
      const float f = p.frequency_penalty != nullptr ? p.frequency_penalty[r] : 0.0f;
      const float pr = p.presence_penalty != nullptr ? p.presence_penalty[r] : 0.0f;
      for (int32_t j = p.history_offsets[r]; j < p.history_offsets[r + 1]; ++j) {
        const int32_t c = p.history_output_counts[j];
        if (c > 0) logits[p.history_ids[j]] -= std::fma(f, static_cast<float>(c), pr);
      }
    }
    for (int64_t i = p.valid_vocab; i < p.vocab; ++i) logits[i] = -INFINITY;
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
