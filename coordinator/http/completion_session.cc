#include "coordinator/http/completion_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "coordinator/http/api_error.h"

namespace r1::http {
namespace {

// Errors of Generator::Submit keep their meaning for InvalidArgument / ResourceExhausted /
// Unavailable; anything else is the server's fault (500).
absl::Status NormalizeSubmitError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      return s;
    default:
      return absl::InternalError(s.message());
  }
}

absl::string_view RejectionReason(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kResourceExhausted:
      return "queue_full";
    case absl::StatusCode::kUnavailable:
      return "unavailable";
    case absl::StatusCode::kInvalidArgument:
      return ApiErrorFromStatus(s).code == "context_length_exceeded" ? "context_length"
                                                                     : "invalid_request";
    default:
      return "internal";
  }
}

detok::OutputOptions MakeOutputOptions(const CompletionEnv& env, const OpenAiRequest& request) {
  const bool chat = request.kind == ApiKind::kChat;
  detok::OutputOptions o;
  // The template ends the prompt in "<think>\n" unless the conversation ends in tool outputs.
  o.starts_in_reasoning = chat && request.messages.back().role != "tool";
  o.parse_reasoning = chat;
  o.stop_strings = request.stop;
  if (!request.ignore_eos) o.stop_token_ids.insert(env.prompts->eos_id());
  o.stop_token_ids.insert(request.stop_token_ids.begin(), request.stop_token_ids.end());
  o.skip_ids = env.skip_ids;
  return o;
}

}  // namespace

absl::string_view FinishReasonText(CompletionFinish finish) {
  switch (finish) {
    case CompletionFinish::kStop:
      return "stop";
    case CompletionFinish::kLength:
      return "length";
    default:
      return "";
  }
}

absl::StatusOr<std::unique_ptr<CompletionSession>> CompletionSession::Start(
    const CompletionEnv* env, const OpenAiRequest& request, std::string request_id,
    absl::Time received, absl::Time deadline) {
  HttpMetrics* metrics = env->metrics;
  auto reject = [&](const absl::Status& s) {
    if (metrics != nullptr) metrics->Rejected(RejectionReason(s));
    return s;
  };
  absl::StatusOr<std::vector<int32_t>> ids = env->prompts->Build(request);
  if (!ids.ok()) return reject(ids.status());
  const int64_t prompt_tokens = static_cast<int64_t>(ids->size());
  const ServedModel model = env->generator->Model();
  absl::StatusOr<GenerationRequest> greq = MakeGenerationRequest(
      request, *std::move(ids), model, request_id, deadline,
      request.ignore_eos ? std::vector<int32_t>{} : std::vector<int32_t>{env->prompts->eos_id()});
  if (!greq.ok()) return reject(greq.status());
  const int32_t max_new_tokens = greq->max_new_tokens;
  absl::StatusOr<std::unique_ptr<GenerationHandle>> handle =
      env->generator->Submit(*std::move(greq));
  if (!handle.ok()) {
    const absl::Status s = NormalizeSubmitError(handle.status());
    if (s.code() == absl::StatusCode::kResourceExhausted) {
      // Overload sheds many requests a second: r1_request_rejections_total counts them.
      log::Debug(request_id, "submit refused: {}", s.message());
    } else {
      log::Warn(request_id, "submit refused: {}", s.ToString());
    }
    return reject(s);
  }
  std::unique_ptr<CompletionSession> session(new CompletionSession(
      env, request, std::move(request_id), received, deadline, prompt_tokens, max_new_tokens));
  session->handle_ = *std::move(handle);
  if (metrics != nullptr) {
    metrics->RunningAdd(1);
    metrics->AddPromptTokens(prompt_tokens);
  }
  return session;
}

CompletionSession::CompletionSession(const CompletionEnv* env, const OpenAiRequest& request,
                                     std::string request_id, absl::Time received,
                                     absl::Time deadline, int64_t prompt_tokens,
                                     int32_t max_new_tokens)
    : env_(env),
      request_id_(std::move(request_id)),
      chat_(request.kind == ApiKind::kChat),
      received_(received),
      deadline_(deadline),
      prompt_tokens_(prompt_tokens),
      max_new_tokens_(max_new_tokens),
      tracker_(env->tokenizer, MakeOutputOptions(*env, request)) {}

CompletionSession::~CompletionSession() {
  if (!generation_over_) handle_->Cancel();
  if (finish_ == CompletionFinish::kNone) {
    log::Info(request_id_, "cancelled after {} tokens", tracker_.completion_tokens());
    if (env_->metrics != nullptr) {
      env_->metrics->Cancelled();
      env_->metrics->RunningAdd(-1);
      env_->metrics->AddGenerationTokens(tracker_.completion_tokens());
      env_->metrics->ObserveE2e(absl::ToDoubleSeconds(absl::Now() - received_));
    }
  }
}

void CompletionSession::Cancel() { handle_->Cancel(); }

Usage CompletionSession::usage() const {
  return Usage{prompt_tokens_, tracker_.completion_tokens(),
               chat_ ? tracker_.reasoning_tokens() : 0};
}

void CompletionSession::End(CompletionFinish finish, absl::Status error, CompletionStep* step) {
  finish_ = finish;
  step->finish = finish;
  step->error = error;
  if (!generation_over_) {
    handle_->Cancel();
    generation_over_ = true;
  }
  const absl::Time now = absl::Now();
  if (env_->metrics != nullptr) {
    env_->metrics->RunningAdd(-1);
    env_->metrics->AddGenerationTokens(tracker_.completion_tokens());
    env_->metrics->ObserveE2e(absl::ToDoubleSeconds(now - received_));
    if (error.code() == absl::StatusCode::kDeadlineExceeded) env_->metrics->Rejected("timeout");
  }
  if (error.ok()) {
    log::Info(request_id_,
              "done prompt_tokens={} completion_tokens={} max_new_tokens={} finish={} "
              "e2e_ms={}",
              prompt_tokens_, tracker_.completion_tokens(), max_new_tokens_,
              FinishReasonText(finish), absl::ToInt64Milliseconds(now - received_));
  } else {
    log::Warn(request_id_, "failed after {} tokens: {}", tracker_.completion_tokens(),
              error.ToString());
  }
}

CompletionStep CompletionSession::Next(absl::Duration timeout) {
  CompletionStep step;
  if (finish_ != CompletionFinish::kNone) {
    step.finish = finish_;
    return step;
  }
  const absl::Time now = absl::Now();
  if (now >= deadline_) {
    detok::OutputDelta delta;
    tracker_.Finish(&delta);
    step.reasoning = std::move(delta.reasoning);
    step.content = std::move(delta.content);
    End(CompletionFinish::kError,
        ApiStatus(absl::StatusCode::kDeadlineExceeded,
                  absl::StrCat("The request did not finish before its deadline (",
                               absl::FormatDuration(deadline_ - received_), " after arrival)."),
                  "", "request_timeout"),
        &step);
    return step;
  }
  TokenBatch batch = handle_->Next(std::min(timeout, deadline_ - now));
  if (batch.end != GenerationEnd::kNone) generation_over_ = true;

  detok::OutputDelta delta;
  if (!batch.token_ids.empty()) {
    const absl::Time t = absl::Now();
    if (env_->metrics != nullptr && !tracker_.stopped()) {
      if (last_token_ == absl::InfinitePast()) {
        env_->metrics->ObserveTtft(absl::ToDoubleSeconds(t - received_));
      } else {
        const double per =
            absl::ToDoubleSeconds(t - last_token_) / static_cast<double>(batch.token_ids.size());
        for (size_t i = 0; i < batch.token_ids.size(); ++i) env_->metrics->ObserveInterToken(per);
      }
    }
    last_token_ = t;
    size_t consumed = 0;
    absl::Status s = tracker_.Append(batch.token_ids, &delta, &consumed);
    step.token_ids.assign(batch.token_ids.begin(),
                          batch.token_ids.begin() + static_cast<std::ptrdiff_t>(consumed));
    if (!s.ok()) {
      step.reasoning = std::move(delta.reasoning);
      step.content = std::move(delta.content);
      End(CompletionFinish::kError,
          absl::InternalError(
              absl::StrCat("The model produced an undecodable token: ", s.message())),
          &step);
      return step;
    }
  }
  if (tracker_.stopped()) {
    step.reasoning = std::move(delta.reasoning);
    step.content = std::move(delta.content);
    End(CompletionFinish::kStop, absl::OkStatus(), &step);
    return step;
  }
  if (batch.end == GenerationEnd::kNone) {
    step.reasoning = std::move(delta.reasoning);
    step.content = std::move(delta.content);
    return step;
  }
  tracker_.Finish(&delta);
  step.reasoning = std::move(delta.reasoning);
  step.content = std::move(delta.content);
  switch (batch.end) {
    case GenerationEnd::kStop:
      End(CompletionFinish::kStop, absl::OkStatus(), &step);
      break;
    case GenerationEnd::kLength:
      End(CompletionFinish::kLength, absl::OkStatus(), &step);
      break;
    case GenerationEnd::kCancelled:
      End(CompletionFinish::kError,
          ApiStatus(absl::StatusCode::kUnavailable,
                    batch.error.empty() ? "The cluster cancelled the generation." : batch.error, "",
                    "generation_cancelled"),
          &step);
      break;
    default:
      End(CompletionFinish::kError,
          ApiStatus(absl::StatusCode::kInternal,
                    batch.error.empty() ? "The generation failed." : batch.error, "",
                    "generation_failed"),
          &step);
      break;
  }
  return step;
}

}  // namespace r1::http
