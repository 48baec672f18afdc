#include "coordinator/grpc_api/inference_service.h"

#include <algorithm>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "coordinator/api/completion_session.h"
#include "coordinator/api/openai_request.h"
#include "coordinator/detok/incremental_detokenizer.h"
#include "coordinator/grpc_api/generate_request.h"

namespace r1 {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

r1::v1::FinishReason FinishReasonProto(api::CompletionFinish finish) {
  switch (finish) {
    case api::CompletionFinish::kStop:
      return r1::v1::FINISH_REASON_STOP;
    case api::CompletionFinish::kLength:
      return r1::v1::FINISH_REASON_LENGTH;
    case api::CompletionFinish::kToolCalls:
      return r1::v1::FINISH_REASON_TOOL_CALLS;
    default:
      return r1::v1::FINISH_REASON_ERROR;
  }
}

std::string NewRequestId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat("grpc-", absl::Hex(rng(), absl::kZeroPad16));
}

}  // namespace

absl::StatusOr<std::unique_ptr<InferenceService>> InferenceService::Create(
    const tok::Tokenizer* tokenizer, Generator* generator, InferenceServiceOptions options) {
  if (tokenizer == nullptr || generator == nullptr) {
    return absl::InvalidArgumentError("InferenceService: tokenizer and generator are required");
  }
  auto prompts = api::PromptBuilder::CreateWithChatTemplate(
      tokenizer, options.eos_token, options.chat_template, options.chat_template_origin);
  if (!prompts.ok()) return prompts.status();
  return std::unique_ptr<InferenceService>(
      new InferenceService(tokenizer, generator, std::move(options), *std::move(prompts)));
}

InferenceService::InferenceService(const tok::Tokenizer* tokenizer, Generator* generator,
                                   InferenceServiceOptions options,
                                   std::unique_ptr<api::PromptBuilder> prompts)
    : tokenizer_(tokenizer),
      generator_(generator),
      options_(std::move(options)),
      prompts_(std::move(prompts)) {
  env_.tokenizer = tokenizer_;
  env_.generator = generator_;
  env_.prompts = prompts_.get();
  env_.skip_ids = detok::SpecialIdsExceptThink(*tokenizer_);
  env_.extra_eos_ids = options_.extra_eos_ids;
}

grpc::Status InferenceService::Generate(grpc::ServerContext* context,
                                        const r1::v1::GenerateRequest* request,
                                        grpc::ServerWriter<r1::v1::GenerateResponse>* writer) {
  const absl::Time received = absl::Now();
  if (options_.auth != nullptr) {
    if (grpc::Status st = options_.auth->Check(*context); !st.ok()) return st;
  }
  const ServedModel model = generator_->Model();
  auto req =
      OpenAiRequestFromProto(*request, api::MakeRequestLimits(model, tokenizer_->id_limit()));
  if (!req.ok()) return ToGrpc(req.status());

  const std::string id = request->request_id().empty() ? NewRequestId() : request->request_id();
  absl::Duration timeout = options_.request_timeout;
  if (request->timeout_ms() > 0) {
    timeout = std::min(timeout, absl::Milliseconds(request->timeout_ms()));
  }
  auto session = api::CompletionSession::Start(&env_, *req, id, received, received + timeout);
  if (!session.ok()) {
    // A refusal for load says when to come back, as HTTP's Retry-After does.
    if (auto retry = session.status().GetPayload(kRetryAfterPayload)) {
      context->AddTrailingMetadata("retry-after", std::string(*retry));
    }
    return ToGrpc(session.status());
  }
  api::CompletionSession& s = **session;
  const int top = req->top_logprobs;
  // The samples' messages interleave; each sample ends with its own finished message.
  while (!s.finished()) {
    if (context->IsCancelled()) {
      s.Cancel();
      return grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled");
    }
    api::CompletionStep step = s.Next(options_.poll_interval);
    const bool last = step.finish != api::CompletionFinish::kNone;
    if (!last && step.token_ids.empty() && step.tool_calls.empty()) continue;  // nothing new
    r1::v1::GenerateResponse out;
    out.set_request_id(id);
    out.set_index(step.index);
    out.set_reasoning_delta(step.reasoning);
    out.set_content_delta(step.content);
    out.mutable_token_ids()->Add(step.token_ids.begin(), step.token_ids.end());
    for (const api::ToolCall& c : step.tool_calls) {
      r1::v1::ToolCall* call = out.add_tool_calls();
      call->set_id(c.id);
      call->set_type("function");
      call->set_name(c.name);
      call->set_arguments(c.arguments);
    }
    for (const TokenLogprob& lp : step.logprobs) {
      r1::v1::TokenLogprob* p = out.add_logprobs();
      p->set_logprob(lp.logprob);
      for (size_t j = 0; j < lp.top.size() && j < static_cast<size_t>(top); ++j) {
        p->add_top_ids(lp.top[j].first);
        p->add_top_logprobs(lp.top[j].second);
      }
    }
    if (last) {
      out.set_finished(true);
      out.set_finish_reason(FinishReasonProto(step.finish));
      out.set_error(std::string(step.error.message()));
      const api::Usage u = s.usage(step.index);
      out.mutable_usage()->set_prompt_tokens(static_cast<int32_t>(u.prompt_tokens));
      out.mutable_usage()->set_completion_tokens(static_cast<int32_t>(u.completion_tokens));
      out.mutable_usage()->set_reasoning_tokens(static_cast<int32_t>(u.reasoning_tokens));
    }
    if (!writer->Write(out)) {
      s.Cancel();
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    }
    if (step.finish == api::CompletionFinish::kError) {
      log::Warn(id, "gRPC generation ended with error: {}", step.error.ToString());
      // The deadline keeps its code; a failed or cancelled sequence is the cluster's problem.
      return step.error.code() == absl::StatusCode::kDeadlineExceeded
                 ? ToGrpc(step.error)
                 : grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(step.error.message()));
    }
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::Tokenize(grpc::ServerContext* context,
                                        const r1::v1::TokenizeRequest* request,
                                        r1::v1::TokenizeResponse* response) {
  if (options_.auth != nullptr) {
    if (grpc::Status st = options_.auth->Check(*context); !st.ok()) return st;
  }
  const ServedModel model = generator_->Model();
  if (!request->model().empty() && request->model() != model.id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("The model '", request->model(), "' does not exist."));
  }
  if (request->messages_size() > 0) {
    // Chat prompts are always rendered with the generation prompt: that is what Generate sends.
    api::OpenAiRequest req;
    req.kind = api::ApiKind::kChat;
    req.model = model.id;
    req.messages = ChatMessagesFromProto(request->messages());
    req.chat_template_kwargs = request->chat_template_kwargs();
    req.tools = ChatToolsFromProto(request->tools());
    absl::Status valid = api::ValidateOpenAiRequest(&req, {model.id, 0});
    if (!valid.ok()) return ToGrpc(valid);
    auto ids = prompts_->Build(req);
    if (!ids.ok()) return ToGrpc(ids.status());
    auto text = prompts_->RenderChat(req);
    if (!text.ok()) return ToGrpc(text.status());
    response->mutable_token_ids()->Add(ids->begin(), ids->end());
    response->set_rendered(*text);
    return grpc::Status::OK;
  }
  auto ids = tokenizer_->Encode(request->text());
  if (!ids.ok()) return ToGrpc(ids.status());
  response->mutable_token_ids()->Add(ids->begin(), ids->end());
  response->set_rendered(request->text());
  return grpc::Status::OK;
}

grpc::Status InferenceService::ListModels(grpc::ServerContext* context,
                                          const r1::v1::ListModelsRequest*,
                                          r1::v1::ListModelsResponse* response) {
  if (options_.auth != nullptr) {
    if (grpc::Status st = options_.auth->Check(*context); !st.ok()) return st;
  }
  const ServedModel model = generator_->Model();
  auto* m = response->add_models();
  m->set_id(model.id);
  m->set_max_model_len(static_cast<int32_t>(model.max_model_len));
  m->set_created(model.created_unix);
  return grpc::Status::OK;
}

}  // namespace r1
