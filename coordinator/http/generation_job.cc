#include "coordinator/http/generation_job.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "coordinator/http/api_error.h"
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

// The SSE events for one step's text.
std::string DeltaEvents(ApiKind kind, const ResponseMeta& meta, const CompletionStep& step,
                        bool usage_null) {
  std::string events;
  if (kind == ApiKind::kChat) {
    if (!step.reasoning.empty()) {
      events += SseEvent(ChatChunk(meta, {{"reasoning_content", step.reasoning}}, "", usage_null));
    }
    if (!step.content.empty()) {
      events += SseEvent(ChatChunk(meta, {{"content", step.content}}, "", usage_null));
    }
  } else if (!step.content.empty()) {
    events += SseEvent(TextCompletionChunk(meta, step.content, "", usage_null));
  }
  return events;
}

}  // namespace

GenerationResult RunGeneration(const GenerationContext& ctx, ApiKind kind, const std::string& body,
                               absl::Time received, ResponseSink* sink) {
  const ServedModel model = ctx.env.generator->Model();
  RequestLimits limits{model.id, model.vocab_size};
  // Ids past the tokenizer's last are padding rows of the embedding: never valid in a prompt.
  const int64_t id_limit = ctx.env.tokenizer->id_limit();
  if (limits.vocab_size <= 0 || limits.vocab_size > id_limit) limits.vocab_size = id_limit;
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
  const ResponseMeta meta{id, absl::ToUnixSeconds(absl::Now()), model.id};
  std::string reasoning_all, content_all;  // non-streaming
  bool client_gone = false;
  absl::Status failure;

  if (stream) {
    bool ok = sink->StartEvents(id);
    if (ok && chat) {
      ok = sink->SendEvents(
          SseEvent(ChatChunk(meta, {{"role", "assistant"}, {"content", ""}}, "", usage_null)));
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
    if (stream) {
      const std::string events = DeltaEvents(kind, meta, step, usage_null);
      if (!events.empty() && !sink->SendEvents(events)) {
        client_gone = true;
        break;
      }
    } else {
      reasoning_all += step.reasoning;
      content_all += step.content;
    }
    if (step.finish == CompletionFinish::kError) failure = step.error;
  }
  const Usage usage = session->usage();
  const absl::string_view finish_reason = FinishReasonText(session->finish());
  if (!session->finished()) session->Cancel();
  session.reset();  // cancels an unfinished sequence now, before the last writes

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
    const json response =
        chat ? ChatCompletion(meta, reasoning_all, content_all, finish_reason, usage)
             : TextCompletion(meta, content_all, finish_reason, usage);
    ctx.env.metrics->RequestDone(RouteLabel(kind), 200);
    result.connection_ok = sink->SendJson(200, DumpJson(response), 0);
    return result;
  }
  std::string events = chat ? SseEvent(ChatChunk(meta, json::object(), finish_reason, usage_null))
                            : SseEvent(TextCompletionChunk(meta, "", finish_reason, usage_null));
  if (req->include_usage) {
    events += SseEvent(UsageChunk(meta, chat ? "chat.completion.chunk" : "text_completion", usage));
  }
  events.append(kSseDone.data(), kSseDone.size());
  ctx.env.metrics->RequestDone(RouteLabel(kind), 200);
  result.connection_ok = sink->SendEvents(events) && sink->EndEvents();
  return result;
}

}  // namespace r1::http
