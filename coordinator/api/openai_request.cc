#include "coordinator/api/openai_request.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/api/api_status.h"

namespace r1::api {

absl::StatusOr<GenerationRequest> MakeGenerationRequest(const OpenAiRequest& request,
                                                        std::vector<int32_t> prompt_ids,
                                                        const ServedModel& model,
                                                        std::string request_id, absl::Time deadline,
                                                        std::vector<int32_t> extra_stop_ids) {
  const absl::string_view param = request.kind == ApiKind::kChat ? "messages" : "prompt";
  const int64_t n = static_cast<int64_t>(prompt_ids.size());
  if (n == 0) return InvalidRequest("The prompt is empty.", param);
  if (n + 1 > model.max_model_len) {
    return InvalidRequest(
        absl::StrCat("This model's maximum context length is ", model.max_model_len,
                     " tokens. However, your ",
                     request.kind == ApiKind::kChat ? "messages" : "prompt", " resulted in ", n,
                     " tokens, leaving no room for output. Please reduce the length of the ", param,
                     "."),
        param, "context_length_exceeded");
  }
  if (request.max_tokens.has_value() && *request.max_tokens > model.max_model_len - n) {
    return InvalidRequest(
        absl::StrCat("This model's maximum context length is ", model.max_model_len,
                     " tokens. However, you requested ", n + *request.max_tokens, " tokens (", n,
                     " in the ", param, ", ", *request.max_tokens,
                     " in the completion). Please reduce the length of the ", param,
                     " or completion."),
        param, "context_length_exceeded");
  }
  GenerationRequest g;
  g.request_id = std::move(request_id);
  g.prompt_token_ids = std::move(prompt_ids);
  g.temperature = static_cast<float>(request.temperature);
  g.top_p = static_cast<float>(request.top_p);
  g.top_k = request.top_k;
  g.seed = request.seed;
  const int64_t want = request.max_tokens.value_or(model.max_model_len - n);
  g.max_new_tokens =
      static_cast<int32_t>(std::min<int64_t>(want, std::numeric_limits<int32_t>::max()));
  g.stop_token_ids = std::move(extra_stop_ids);
  for (int32_t id : request.stop_token_ids) {
    if (std::find(g.stop_token_ids.begin(), g.stop_token_ids.end(), id) == g.stop_token_ids.end()) {
      g.stop_token_ids.push_back(id);
    }
  }
  g.ignore_eos = request.ignore_eos;
  g.min_tokens = request.min_tokens;
  g.speculative = request.speculative;
  g.presence_penalty = static_cast<float>(request.presence_penalty);
  g.frequency_penalty = static_cast<float>(request.frequency_penalty);
  g.repetition_penalty = static_cast<float>(request.repetition_penalty);
  g.logit_bias.reserve(request.logit_bias.size());
  for (const auto& [id, bias] : request.logit_bias) {
    g.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(bias));
  }
  std::sort(g.logit_bias.begin(), g.logit_bias.end());
  g.logprobs = request.logprobs;
  g.top_logprobs = request.logprobs ? request.top_logprobs : 0;
  g.deadline = deadline;
  return g;
}

}  // namespace r1::api
