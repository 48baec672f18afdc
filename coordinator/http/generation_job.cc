#include "coordinator/http/generation_job.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/request_parser.h"

namespace r1::http {
namespace {

using json = nlohmann::json;
using api::ApiKind;
using api::CompletionFinish;
using api::CompletionStep;

// Steps one Poll takes at most (non-streaming requests return no bytes to bound it).
constexpr int kMaxStepsPerPoll = 256;

absl::string_view RouteLabel(ApiKind kind) {
  return kind == ApiKind::kChat ? "/v1/chat/completions" : "/v1/completions";
}

// The SSE events for one step: its text (with the logprobs of its tokens on the first chunk, or
// on a chunk of its own when the tokens produced no text yet), then the finish of its choice.
std::string StepEvents(ApiKind kind, const ResponseMeta& meta, const CompletionStep& step,
                       json logprobs, bool usage_null) {
  std::string events;
  const int i = step.index;
  if (kind == ApiKind::kChat) {
    if (!step.reasoning.empty()) {
      events += SseEvent(ChatChunk(meta, i, {{"reasoning_content", step.reasoning}},
                                   std::exchange(logprobs, nullptr), "", usage_null));
    }
    if (!step.content.empty()) {
      events += SseEvent(ChatChunk(meta, i, {{"content", step.content}},
                                   std::exchange(logprobs, nullptr), "", usage_null));
    }
    if (!step.tool_calls.empty()) {
      events += SseEvent(ChatChunk(meta, i, {{"tool_calls", ToolCallsJson(step.tool_calls, true)}},
                                   std::exchange(logprobs, nullptr), "", usage_null));
    }
    if (!logprobs.is_null()) {
      events += SseEvent(ChatChunk(meta, i, json::object(), std::move(logprobs), "", usage_null));
    }
  } else if (!step.content.empty() || !logprobs.is_null()) {
    events +=
        SseEvent(TextCompletionChunk(meta, i, step.content, std::move(logprobs), "", usage_null));
  }
  if (step.finish == CompletionFinish::kStop || step.finish == CompletionFinish::kLength ||
      step.finish == CompletionFinish::kToolCalls) {
    const absl::string_view reason = api::FinishReasonText(step.finish);
    events += kind == ApiKind::kChat
                  ? SseEvent(ChatChunk(meta, i, json::object(), nullptr, reason, usage_null))
                  : SseEvent(TextCompletionChunk(meta, i, "", nullptr, reason, usage_null));
  }
  return events;
}

}  // namespace

GenerationJob::GenerationJob(const GenerationContext* ctx, ApiKind kind) : ctx_(ctx), kind_(kind) {}

GenerationJob::~GenerationJob() = default;  // the session cancels what still runs

std::unique_ptr<GenerationJob> GenerationJob::Start(const GenerationContext* ctx, ApiKind kind,
                                                    const std::string& body, absl::Time received) {
  std::unique_ptr<GenerationJob> job(new GenerationJob(ctx, kind));
  const ServedModel model = ctx->env.generator->Model();
  const api::RequestLimits limits = api::MakeRequestLimits(model, ctx->env.tokenizer->id_limit());
  absl::StatusOr<api::OpenAiRequest> req = ParseOpenAiRequest(kind, body, limits);
  if (!req.ok()) {
    ctx->env.metrics->Rejected(
        req.status().code() == absl::StatusCode::kNotFound ? "model_not_found" : "invalid_request");
    job->Refuse(req.status());
    return job;
  }
  job->request_ = *std::move(req);
  const bool chat = kind == ApiKind::kChat;
  job->id_ = NewResponseId(chat ? "chatcmpl-" : "cmpl-");
  job->deadline_ = received + ctx->request_timeout;
  absl::StatusOr<std::unique_ptr<api::CompletionSession>> started =
      api::CompletionSession::Start(&ctx->env, job->request_, job->id_, received, job->deadline_);
  if (!started.ok()) {
    job->Refuse(started.status());
    return job;
  }
  job->session_ = *std::move(started);
  job->stream_ = job->request_.stream;
  job->meta_ = ResponseMeta{job->id_, absl::ToUnixSeconds(absl::Now()), model.id,
                            SystemFingerprint(model.id)};
  job->choices_.assign(static_cast<size_t>(job->session_->samples()),
                       Choice(job->request_.top_logprobs));
  return job;
}

void GenerationJob::SetNotify(const std::function<void()>& notify) {
  if (session_ != nullptr) session_->SetNotify(notify);
}

void GenerationJob::Refuse(const absl::Status& status) {
  const ApiError e = ApiErrorFromStatus(status);
  response_.http_status = e.http_status;
  response_.body = e.Json();
  if (e.http_status == 429 || e.http_status == 503) {
    response_.retry_after_s = e.retry_after_s > 0 ? e.retry_after_s : ctx_->retry_after_s;
  }
  http_status_ = e.http_status;
  ctx_->env.metrics->RequestDone(RouteLabel(kind_), e.http_status);
  session_.reset();
  done_ = true;
}

json GenerationJob::StepLogprobs(const CompletionStep& step, Choice* choice) const {
  if (!request_.logprobs || step.token_ids.empty()) return nullptr;
  if (kind_ == ApiKind::kChat) {
    return {{"content", ChatLogprobEntries(*ctx_->env.tokenizer, step.token_ids, step.logprobs,
                                           request_.top_logprobs)}};
  }
  choice->text_logprobs.Append(*ctx_->env.tokenizer, step.token_ids, step.logprobs);
  return choice->text_logprobs.Take();
}

std::string GenerationJob::Take(const CompletionStep& step) {
  Choice& choice = choices_[static_cast<size_t>(step.index)];
  if (stream_) {
    return StepEvents(kind_, meta_, step, StepLogprobs(step, &choice), request_.include_usage);
  }
  choice.reasoning += step.reasoning;
  choice.content += step.content;
  choice.tool_calls.insert(choice.tool_calls.end(), step.tool_calls.begin(), step.tool_calls.end());
  if (request_.logprobs && kind_ == ApiKind::kChat) {
    for (json& e : ChatLogprobEntries(*ctx_->env.tokenizer, step.token_ids, step.logprobs,
                                      request_.top_logprobs)) {
      choice.chat_logprobs.push_back(std::move(e));
    }
  } else if (request_.logprobs) {
    choice.text_logprobs.Append(*ctx_->env.tokenizer, step.token_ids, step.logprobs);
  }
  return "";
}

std::string GenerationJob::Poll(size_t max_bytes) {
  more_ = false;
  if (done_) return "";
  std::string out;
  if (stream_ && !opened_) {
    opened_ = true;
    if (kind_ == ApiKind::kChat) {
      for (int i = 0; i < session_->samples(); ++i) {
        out += SseEvent(ChatChunk(meta_, i, {{"role", "assistant"}, {"content", ""}}, nullptr, "",
                                  request_.include_usage));
      }
    }
  }
  if (aborted_) {
    failure_ = api::ApiStatus(absl::StatusCode::kUnavailable, "The server is shutting down.", "",
                              "server_shutting_down");
    return out + Finish();
  }
  for (int steps = 0; !session_->finished(); ++steps) {
    if (steps == kMaxStepsPerPoll || out.size() >= max_bytes) {
      more_ = true;
      return out;
    }
    const CompletionStep step = session_->Next(absl::ZeroDuration());
    if (step.empty()) return out;
    out += Take(step);
    if (step.finish == CompletionFinish::kError) failure_ = step.error;
  }
  return out + Finish();
}

std::string GenerationJob::Finish() {
  const api::Usage usage = session_->usage();
  const int n = session_->samples();
  std::vector<absl::string_view> finish_reasons;
  for (int i = 0; i < n; ++i) {
    finish_reasons.push_back(api::FinishReasonText(session_->finish(i)));
  }
  session_.reset();  // cancels unfinished sequences now, before the last writes
  done_ = true;
  const bool chat = kind_ == ApiKind::kChat;
  if (!failure_.ok()) {
    if (!stream_) {
      Refuse(failure_);
      return "";
    }
    http_status_ = 200;
    ctx_->env.metrics->RequestDone(RouteLabel(kind_), 200);
    return absl::StrCat("data: ", ApiErrorFromStatus(failure_).Json(), "\n\n", kSseDone);
  }
  http_status_ = 200;
  if (!stream_) {
    json out = json::array();
    for (int i = 0; i < n; ++i) {
      Choice& c = choices_[static_cast<size_t>(i)];
      if (chat) {
        json lp = request_.logprobs ? json{{"content", std::move(c.chat_logprobs)}} : json(nullptr);
        out.push_back(
            ChatChoice(i, c.reasoning, c.content, c.tool_calls, std::move(lp), finish_reasons[i]));
      } else {
        json lp = request_.logprobs ? c.text_logprobs.Json() : json(nullptr);
        out.push_back(TextChoice(i, c.content, std::move(lp), finish_reasons[i]));
      }
    }
    const json response = chat ? ChatCompletion(meta_, std::move(out), usage)
                               : TextCompletion(meta_, std::move(out), usage);
    ctx_->env.metrics->RequestDone(RouteLabel(kind_), 200);
    response_ = JsonResponse{200, DumpJson(response), 0};
    return "";
  }
  std::string events;
  if (request_.include_usage) {
    events +=
        SseEvent(UsageChunk(meta_, chat ? "chat.completion.chunk" : "text_completion", usage));
  }
  events.append(kSseDone.data(), kSseDone.size());
  ctx_->env.metrics->RequestDone(RouteLabel(kind_), 200);
  return events;
}

void GenerationJob::ClientGone() {
  if (done_) return;
  int64_t tokens = 0;
  if (session_ != nullptr) {
    tokens = session_->usage().completion_tokens;
    session_->Cancel();
    session_.reset();
  }
  log::Info(id_, "client went away after {} tokens; cancelled", tokens);
  ctx_->env.metrics->RequestDone(RouteLabel(kind_), 499);
  http_status_ = 499;
  done_ = true;
}

}  // namespace r1::http
