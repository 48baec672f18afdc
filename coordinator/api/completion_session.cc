#include "coordinator/api/completion_session.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "coordinator/api/api_status.h"

namespace r1::api {
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
      return ApiStatusCode(s) == "context_length_exceeded" ? "context_length" : "invalid_request";
    default:
      return "internal";
  }
}

// The rendered prompt ends in an open "<think>" (R1's template: "<｜Assistant｜><think>\n";
// V3.1's with thinking on), so generation starts inside the reasoning. Templates that end
// elsewhere (after tool outputs, V3's "<｜Assistant｜>", V3.1's "</think>") start in content, where
// a leading "<think>" of the output still opens the reasoning.
bool PromptEndsInThink(const tok::Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  const size_t n = std::min<size_t>(ids.size(), 4);
  absl::StatusOr<std::string> tail =
      tokenizer.Decode(absl::MakeConstSpan(ids).subspan(ids.size() - n));
  return tail.ok() && absl::EndsWith(absl::StripTrailingAsciiWhitespace(*tail), "<think>");
}

// The model's EOS ids: the tokenizer's EOS token, then config.json's others.
std::vector<int32_t> EosIds(const CompletionEnv& env) {
  std::vector<int32_t> ids = {env.prompts->eos_id()};
  for (int32_t id : env.extra_eos_ids) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

detok::OutputOptions MakeOutputOptions(const CompletionEnv& env, const OpenAiRequest& request,
                                       bool starts_in_reasoning) {
  const bool chat = request.kind == ApiKind::kChat;
  detok::OutputOptions o;
  o.starts_in_reasoning = chat && starts_in_reasoning;
  o.parse_reasoning = chat;
  o.parse_tool_calls = ParsesToolCalls(request);
  o.stop_strings = request.stop;
  if (!request.ignore_eos) {
    for (int32_t id : EosIds(env)) o.stop_token_ids.insert(id);
  }
  o.stop_token_ids.insert(request.stop_token_ids.begin(), request.stop_token_ids.end());
  o.skip_ids = env.skip_ids;
  if (o.parse_tool_calls) {
    for (int32_t id : ToolCallMarkerIds(*env.tokenizer)) o.skip_ids.erase(id);
  }
  return o;
}

}  // namespace

absl::string_view FinishReasonText(CompletionFinish finish) {
  switch (finish) {
    case CompletionFinish::kStop:
      return "stop";
    case CompletionFinish::kLength:
      return "length";
    case CompletionFinish::kToolCalls:
      return "tool_calls";
    default:
      return "";
  }
}

absl::StatusOr<std::unique_ptr<CompletionSession>> CompletionSession::Start(
    const CompletionEnv* env, const OpenAiRequest& request, std::string request_id,
    absl::Time received, absl::Time deadline) {
  RequestMetrics* metrics = env->metrics;
  auto reject = [&](const absl::Status& s) {
    if (metrics != nullptr) metrics->Rejected(RejectionReason(s));
    return s;
  };
  absl::StatusOr<std::vector<int32_t>> ids = env->prompts->Build(request);
  if (!ids.ok()) return reject(ids.status());
  const detok::OutputOptions output_options = MakeOutputOptions(
      *env, request, request.kind == ApiKind::kChat && PromptEndsInThink(*env->tokenizer, *ids));
  const int64_t prompt_tokens = static_cast<int64_t>(ids->size());
  const ServedModel model = env->generator->Model();
  absl::StatusOr<GenerationRequest> greq =
      MakeGenerationRequest(request, *std::move(ids), model, request_id, deadline,
                            request.ignore_eos ? std::vector<int32_t>{} : EosIds(*env));
  if (!greq.ok()) return reject(greq.status());
  std::unique_ptr<CompletionSession> session(new CompletionSession(
      env, request, request_id, received, deadline, prompt_tokens, greq->max_new_tokens));
  const int n = std::max(request.n, 1);
  for (int i = 0; i < n; ++i) {
    GenerationRequest sample = *greq;
    if (n > 1) {
      sample.request_id = absl::StrCat(request_id, "-", i);
      if (sample.seed.has_value()) *sample.seed += static_cast<uint64_t>(i);
    }
    absl::StatusOr<std::unique_ptr<GenerationHandle>> handle =
        env->generator->Submit(std::move(sample));
    if (!handle.ok()) {
      const absl::Status s = NormalizeSubmitError(handle.status());
      if (s.code() == absl::StatusCode::kResourceExhausted) {
        // Overload sheds many requests a second: r1_request_rejections_total counts them.
        log::Debug(request_id, "submit refused: {}", s.message());
      } else {
        log::Warn(request_id, "submit refused: {}", s.ToString());
      }
      for (auto& submitted : session->samples_) {
        submitted->handle->Cancel();
        submitted->generation_over = true;
      }
      session->ended_ = true;  // nothing was counted as running
      return reject(s);
    }
    auto sample_state = std::make_unique<Sample>(env->tokenizer, output_options);
    sample_state->handle = *std::move(handle);
    session->samples_.push_back(std::move(sample_state));
  }
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
      logprobs_(request.logprobs),
      received_(received),
      deadline_(deadline),
      prompt_tokens_(prompt_tokens),
      max_new_tokens_(max_new_tokens) {}

CompletionSession::~CompletionSession() {
  CancelRunning();
  if (!ended_) {
    log::Info(request_id_, "cancelled after {} tokens", CompletionTokens());
    if (env_->metrics != nullptr) {
      env_->metrics->Cancelled();
      env_->metrics->RunningAdd(-1);
      env_->metrics->AddGenerationTokens(CompletionTokens());
      env_->metrics->ObserveE2e(absl::ToDoubleSeconds(absl::Now() - received_));
    }
  }
}

void CompletionSession::SetNotify(const std::function<void()>& notify) {
  for (const auto& s : samples_) s->handle->SetNotify(notify);
}

void CompletionSession::Cancel() {
  for (const auto& s : samples_) s->handle->Cancel();
}

void CompletionSession::CancelRunning() {
  for (const auto& s : samples_) {
    if (s->generation_over) continue;
    s->handle->Cancel();
    s->generation_over = true;
  }
}

int64_t CompletionSession::CompletionTokens() const {
  int64_t total = 0;
  for (const auto& s : samples_) total += s->tracker.completion_tokens();
  return total;
}

Usage CompletionSession::usage() const {
  Usage u{prompt_tokens_, 0, 0};
  for (const auto& s : samples_) {
    u.completion_tokens += s->tracker.completion_tokens();
    if (chat_) u.reasoning_tokens += s->tracker.reasoning_tokens();
  }
  return u;
}

Usage CompletionSession::usage(int index) const {
  const OutputTracker& t = samples_[index]->tracker;
  return Usage{prompt_tokens_, t.completion_tokens(), chat_ ? t.reasoning_tokens() : 0};
}

void CompletionSession::EndSession(const absl::Status& error) {
  ended_ = true;
  error_ = error;
  const absl::Time now = absl::Now();
  if (env_->metrics != nullptr) {
    env_->metrics->RunningAdd(-1);
    env_->metrics->AddGenerationTokens(CompletionTokens());
    env_->metrics->ObserveE2e(absl::ToDoubleSeconds(now - received_));
    if (error.code() == absl::StatusCode::kDeadlineExceeded) env_->metrics->Rejected("timeout");
  }
  if (error.ok()) {
    log::Info(request_id_,
              "done prompt_tokens={} completion_tokens={} n={} max_new_tokens={} finish={} "
              "e2e_ms={}",
              prompt_tokens_, CompletionTokens(), samples_.size(), max_new_tokens_,
              FinishReasonText(samples_[0]->finish), absl::ToInt64Milliseconds(now - received_));
  } else {
    log::Warn(request_id_, "failed after {} tokens: {}", CompletionTokens(), error.ToString());
  }
}

void CompletionSession::EndSample(int index, CompletionFinish finish, CompletionStep* step) {
  Sample& s = *samples_[index];
  if (finish == CompletionFinish::kStop && s.tracker.tool_calls() > 0) {
    finish = CompletionFinish::kToolCalls;
  }
  s.finish = finish;
  step->finish = finish;
  if (!s.generation_over) {
    s.handle->Cancel();
    s.generation_over = true;
  }
  for (const auto& other : samples_) {
    if (other->finish == CompletionFinish::kNone) return;
  }
  EndSession(absl::OkStatus());
}

void CompletionSession::Fail(absl::Status error, CompletionStep* step) {
  samples_[step->index]->finish = CompletionFinish::kError;
  step->finish = CompletionFinish::kError;
  step->error = error;
  CancelRunning();
  EndSession(error);
}

CompletionStep CompletionSession::Next(absl::Duration timeout) {
  CompletionStep step;
  if (ended_) {
    step.finish = error_.ok() ? samples_[0]->finish : CompletionFinish::kError;
    step.error = error_;
    return step;
  }
  const absl::Time now = absl::Now();
  if (now >= deadline_) {
    // The first sample still running carries the error (and its held-back text).
    for (size_t i = 0; i < samples_.size(); ++i) {
      if (samples_[i]->finish != CompletionFinish::kNone) continue;
      step.index = static_cast<int>(i);
      detok::OutputDelta delta;
      samples_[i]->tracker.Finish(&delta);
      TakeDelta(&delta, &step);
      break;
    }
    Fail(ApiStatus(absl::StatusCode::kDeadlineExceeded,
                   absl::StrCat("The request did not finish before its deadline (",
                                absl::FormatDuration(deadline_ - received_), " after arrival)."),
                   "", "request_timeout"),
         &step);
    return step;
  }
  // One pass that takes what is there already, then passes that wait on each running sample in
  // turn for its share of the time left.
  const absl::Time until = std::min(now + timeout, deadline_);
  const int n = samples();
  for (int pass = 0;; ++pass) {
    if (pass > 0 && absl::Now() >= until) break;
    int running = 0;
    for (const auto& s : samples_) running += s->finish == CompletionFinish::kNone ? 1 : 0;
    for (int k = 0; k < n; ++k) {
      const int i = (next_ + k) % n;
      if (samples_[i]->finish != CompletionFinish::kNone) continue;
      const absl::Duration wait =
          pass == 0 ? absl::ZeroDuration()
                    : std::max(absl::ZeroDuration(), (until - absl::Now()) / running);
      TokenBatch batch = samples_[i]->handle->Next(wait);
      if (batch.token_ids.empty() && batch.end == GenerationEnd::kNone) continue;
      next_ = (i + 1) % n;
      return Process(i, std::move(batch));
    }
  }
  return step;
}

void CompletionSession::TakeDelta(detok::OutputDelta* delta, CompletionStep* step) {
  Sample& s = *samples_[step->index];
  step->reasoning = std::move(delta->reasoning);
  step->content = std::move(delta->content);
  for (detok::ParsedToolCall& c : delta->tool_calls) {
    step->tool_calls.push_back(
        ToolCall{s.tool_calls++, NewToolCallId(), std::move(c.name), std::move(c.arguments)});
  }
  delta->tool_calls.clear();
}

CompletionStep CompletionSession::Process(int index, TokenBatch batch) {
  Sample& s = *samples_[index];
  CompletionStep step;
  step.index = index;
  if (batch.end != GenerationEnd::kNone) s.generation_over = true;
  detok::OutputDelta delta;
  auto take_text = [&] { TakeDelta(&delta, &step); };
  if (!batch.token_ids.empty()) {
    const absl::Time t = absl::Now();
    if (env_->metrics != nullptr && !s.tracker.stopped()) {
      if (!first_token_seen_) env_->metrics->ObserveTtft(absl::ToDoubleSeconds(t - received_));
      if (s.last_token != absl::InfinitePast()) {
        const double per =
            absl::ToDoubleSeconds(t - s.last_token) / static_cast<double>(batch.token_ids.size());
        for (size_t i = 0; i < batch.token_ids.size(); ++i) env_->metrics->ObserveInterToken(per);
      }
    }
    first_token_seen_ = true;
    s.last_token = t;
    if (logprobs_ && batch.logprobs.size() != batch.token_ids.size()) {
      Fail(ApiStatus(absl::StatusCode::kInternal,
                     absl::StrCat("The generator returned ", batch.logprobs.size(),
                                  " logprobs for ", batch.token_ids.size(), " tokens."),
                     "", "generation_failed"),
           &step);
      return step;
    }
    size_t consumed = 0;
    absl::Status st = s.tracker.Append(batch.token_ids, &delta, &consumed);
    step.token_ids.assign(batch.token_ids.begin(),
                          batch.token_ids.begin() + static_cast<std::ptrdiff_t>(consumed));
    if (logprobs_) {
      step.logprobs.assign(
          std::make_move_iterator(batch.logprobs.begin()),
          std::make_move_iterator(batch.logprobs.begin() + static_cast<std::ptrdiff_t>(consumed)));
    }
    if (!st.ok()) {
      take_text();
      Fail(absl::InternalError(
               absl::StrCat("The model produced an undecodable token: ", st.message())),
           &step);
      return step;
    }
  }
  if (s.tracker.stopped()) {
    take_text();
    EndSample(index, CompletionFinish::kStop, &step);
    return step;
  }
  if (batch.end == GenerationEnd::kNone) {
    take_text();
    return step;
  }
  s.tracker.Finish(&delta);
  take_text();
  switch (batch.end) {
    case GenerationEnd::kStop:
      EndSample(index, CompletionFinish::kStop, &step);
      break;
    case GenerationEnd::kLength:
      EndSample(index, CompletionFinish::kLength, &step);
      break;
    case GenerationEnd::kCancelled:
      Fail(ApiStatus(absl::StatusCode::kUnavailable,
                     batch.error.empty() ? "The cluster cancelled the generation." : batch.error,
                     "", "generation_cancelled"),
           &step);
      break;
    default:
      Fail(ApiStatus(absl::StatusCode::kInternal,
                     batch.error.empty() ? "The generation failed." : batch.error, "",
                     "generation_failed"),
           &step);
      break;
  }
  return step;
}

}  // namespace r1::api
