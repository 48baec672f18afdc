#include "coordinator/http/generation_job.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/logprobs_json.h"
#include "coordinator/http/openai_response.h"

namespace r1::http {
namespace {

using json = nlohmann::json;

absl::string_view RouteLabel(ApiKind kind) {
  return kind == ApiKind::kChat ? "/v1/chat/completions" : "/v1/completions";
}

// Counts the response (before its last bytes go out, so that a client that has read it sees it
// in /metrics) and sends the error object.
GenerationResult SendError(const GenerationContext& ctx, ApiKind kind, ResponseSink* sink,
                           const absl::Status& status) {
  const ApiError e = ApiErrorFromStatus(status);
  ctx.env.metrics->RequestDone(RouteLabel(kind), e.http_status);
  int retry = 0;
  if (e.http_status == 429 || e.http_status == 503) {
    retry = e.retry_after_s > 0 ? e.retry_after_s : ctx.retry_after_s;
  }
  const bool ok = sink->SendJson(e.http_status, e.Json(), retry);
  return {e.http_status, ok};
}

// One choice's output as it accumulates (non-streaming) and its logprobs state.
struct ChoiceOutput {
  explicit ChoiceOutput(int top) : text_logprobs(top) {}
  std::string reasoning, content;
  json chat_logprobs = json::array();  // entries of logprobs.content
  CompletionLogprobs text_logprobs;
};

// The logprobs a streamed chunk of `step` carries: null without logprobs or tokens.
json StepLogprobs(const GenerationContext& ctx, ApiKind kind, const OpenAiRequest& req,
                  const CompletionStep& step, ChoiceOutput* choice) {
  if (!req.logprobs || step.token_ids.empty()) return nullptr;
  if (kind == ApiKind::kChat) {
    return {{"content", ChatLogprobEntries(*ctx.env.tokenizer, step.token_ids, step.logprobs,
                                           req.top_logprobs)}};
  }
  choice->text_logprobs.Append(*ctx.env.tokenizer, step.token_ids, step.logprobs);
  return choice->text_logprobs.Take();
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
    if (!logprobs.is_null()) {
      events += SseEvent(ChatChunk(meta, i, json::object(), std::move(logprobs), "", usage_null));
    }
  } else if (!step.content.empty() || !logprobs.is_null()) {
    events +=
        SseEvent(TextCompletionChunk(meta, i, step.content, std::move(logprobs), "", usage_null));
  }
  if (step.finish == CompletionFinish::kStop || step.finish == CompletionFinish::kLength) {
    const absl::string_view reason = FinishReasonText(step.finish);
    events += kind == ApiKind::kChat
                  ? SseEvent(ChatChunk(meta, i, json::object(), nullptr, reason, usage_null))
                  : SseEvent(TextCompletionChunk(meta, i, "", nullptr, reason, usage_null));
  }
  return events;
}

}  // namespace

GenerationResult RunGeneration(const GenerationContext& ctx, ApiKind kind, const std::string& body,
                               absl::Time received, ResponseSink* sink) {
  const ServedModel model = ctx.env.generator->Model();
  const RequestLimits limits = MakeRequestLimits(model, ctx.env.tokenizer->id_limit());
  absl::StatusOr<OpenAiRequest> req = ParseOpenAiRequest(kind, body, limits);
  if (!req.ok()) {
    ctx.env.metrics->Rejected(
        req.status().code() == absl::StatusCode::kNotFound ? "model_not_found" : "invalid_request");
    return SendError(ctx, kind, sink, req.status());
  }

  const bool chat = kind == ApiKind::kChat;
  const std::string id = NewResponseId(chat ? "chatcmpl-" : "cmpl-");
  absl::StatusOr<std::unique_ptr<CompletionSession>> started =
      CompletionSession::Start(&ctx.env, *req, id, received, received + ctx.request_timeout);
  if (!started.ok()) return SendError(ctx, kind, sink, started.status());
  std::unique_ptr<CompletionSession> session = *std::move(started);

  const bool stream = req->stream;
  const bool usage_null = req->include_usage;
  const ResponseMeta meta{id, absl::ToUnixSeconds(absl::Now()), model.id,
                          SystemFingerprint(model.id)};
  const int n = session->samples();
  std::vector<ChoiceOutput> choices(static_cast<size_t>(n), ChoiceOutput(req->top_logprobs));
  bool client_gone = false;
  absl::Status failure;

  if (stream) {
    bool ok = sink->StartEvents(id);
    if (ok && chat) {
      std::string events;
      for (int i = 0; i < n; ++i) {
        events += SseEvent(
            ChatChunk(meta, i, {{"role", "assistant"}, {"content", ""}}, nullptr, "", usage_null));
      }
      ok = sink->SendEvents(events);
    }
    client_gone = !ok;
  }
  while (!client_gone && !session->finished()) {
    if (ctx.abort != nullptr && ctx.abort->load()) {
      failure = ApiStatus(absl::StatusCode::kUnavailable, "The server is shutting down.", "",
                          "server_shutting_down");
      break;
    }
    CompletionStep step = session->Next(ctx.poll_interval);
    if (sink->ClientGone()) {
      client_gone = true;
      break;
    }
    ChoiceOutput& choice = choices[static_cast<size_t>(step.index)];
    if (stream) {
      const std::string events =
          StepEvents(kind, meta, step, StepLogprobs(ctx, kind, *req, step, &choice), usage_null);
      if (!events.empty() && !sink->SendEvents(events)) {
        client_gone = true;
        break;
      }
    } else {
      choice.reasoning += step.reasoning;
      choice.content += step.content;
      if (req->logprobs && chat) {
        for (json& e : ChatLogprobEntries(*ctx.env.tokenizer, step.token_ids, step.logprobs,
                                          req->top_logprobs)) {
          choice.chat_logprobs.push_back(std::move(e));
        }
      } else if (req->logprobs) {
        choice.text_logprobs.Append(*ctx.env.tokenizer, step.token_ids, step.logprobs);
      }
    }
    if (step.finish == CompletionFinish::kError) failure = step.error;
  }
  const Usage usage = session->usage();
  std::vector<absl::string_view> finish_reasons;
  for (int i = 0; i < n; ++i) finish_reasons.push_back(FinishReasonText(session->finish(i)));
  if (!session->finished()) session->Cancel();
  session.reset();  // cancels unfinished sequences now, before the last writes

  if (client_gone) {
    log::Info(id, "client went away after {} tokens; cancelled", usage.completion_tokens);
    ctx.env.metrics->RequestDone(RouteLabel(kind), 499);
    return {499, false};
  }
  GenerationResult result;
  if (!failure.ok()) {
    if (stream) ctx.env.metrics->RequestDone(RouteLabel(kind), 200);
    if (!stream) return SendError(ctx, kind, sink, failure);
    const std::string events =
        absl::StrCat("data: ", ApiErrorFromStatus(failure).Json(), "\n\n", kSseDone);
    result.connection_ok = sink->SendEvents(events) && sink->EndEvents();
    return result;
  }
  if (!stream) {
    json out = json::array();
    for (int i = 0; i < n; ++i) {
      ChoiceOutput& c = choices[static_cast<size_t>(i)];
      if (chat) {
        json lp = req->logprobs ? json{{"content", std::move(c.chat_logprobs)}} : json(nullptr);
        out.push_back(ChatChoice(i, c.reasoning, c.content, std::move(lp), finish_reasons[i]));
      } else {
        json lp = req->logprobs ? c.text_logprobs.Json() : json(nullptr);
        out.push_back(TextChoice(i, c.content, std::move(lp), finish_reasons[i]));
      }
    }
    const json response = chat ? ChatCompletion(meta, std::move(out), usage)
                               : TextCompletion(meta, std::move(out), usage);
    ctx.env.metrics->RequestDone(RouteLabel(kind), 200);
    result.connection_ok = sink->SendJson(200, DumpJson(response), 0);
    return result;
  }
  std::string events;
  if (req->include_usage) {
    events += SseEvent(UsageChunk(meta, chat ? "chat.completion.chunk" : "text_completion", usage));
  }
  events.append(kSseDone.data(), kSseDone.size());
  ctx.env.metrics->RequestDone(RouteLabel(kind), 200);
  result.connection_ok = sink->SendEvents(events) && sink->EndEvents();
  return result;
}

}  // namespace r1::http
