#include "worker/engine/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "worker/model/token_choice.h"

namespace r1 {

absl::Status ValidateSamplingParams(const SamplingParams& p, int64_t vocab) {
  if (!(p.temperature >= 0.0f && p.temperature <= 100.0f)) {
    return absl::InvalidArgumentError("temperature must be in [0, 100]");
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return absl::InvalidArgumentError("top_p must be in (0, 1]");
  }
  if (p.top_k < 0) return absl::InvalidArgumentError("top_k must be >= 0");
  if (auto st = ValidatePenaltiesAndLogprobs(p.presence_penalty, p.frequency_penalty,
                                             p.repetition_penalty, p.top_logprobs);
      !st.ok()) {
    return st;
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias token id ", id, " is out of range"));
    }
    if (!(bias >= -100.0f && bias <= 100.0f)) {
      return absl::InvalidArgumentError("logit_bias values must be in [-100, 100]");
    }
  }
  return absl::OkStatus();
}

}  // namespace r1
