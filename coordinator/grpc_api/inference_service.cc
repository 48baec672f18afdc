#include "coordinator/grpc_api/inference_service.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "coordinator/detok/incremental_detokenizer.h"
#include "coordinator/http/completion_session.h"
#include "coordinator/http/openai_request.h"
#include "nlohmann/json.hpp"

namespace r1 {
namespace {

using nlohmann::json;

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

json MessagesJson(const google::protobuf::RepeatedPtrField<r1::v1::ChatMessage>& messages) {
  json out = json::array();
  for (const auto& m : messages) {
    json j = {{"role", m.role()}};
    if (m.tool_calls_size() > 0) {
      json calls = json::array();
      for (const auto& c : m.tool_calls()) {
        calls.push_back({{"id", c.id()},
                         {"type", c.type().empty() ? "function" : c.type()},
                         {"function", {{"name", c.name()}, {"arguments", c.arguments()}}}});
      }
      j["tool_calls"] = std::move(calls);
      if (!m.content().empty()) j["content"] = m.content();
    } else {
      j["content"] = m.content();
    }
    if (!m.tool_call_id().empty()) j["tool_call_id"] = m.tool_call_id();
    out.push_back(std::move(j));
  }
  return out;
}

// The OpenAI request body equivalent to `r`; unset proto fields stay out so that the parser's
// defaults apply (temperature 0 in the proto means greedy, as 0 does in the HTTP API).
json RequestJson(const r1::v1::GenerateRequest& r, http::ApiKind* kind) {
  json body = {{"model", r.model()}};
  if (r.messages_size() > 0) {
    *kind = http::ApiKind::kChat;
    body["messages"] = MessagesJson(r.messages());
  } else {
    *kind = http::ApiKind::kCompletion;
    if (r.prompt_token_ids_size() > 0) {
      body["prompt"] =
          json(std::vector<int32_t>(r.prompt_token_ids().begin(), r.prompt_token_ids().end()));
    } else {
      body["prompt"] = r.prompt();
    }
  }
  const r1::v1::SamplingParams& s = r.sampling();
  body["temperature"] = s.temperature();
  if (s.top_p() != 0.0f) body["top_p"] = s.top_p();
  if (s.top_k() != 0) body["top_k"] = s.top_k();
  if (s.has_seed()) body["seed"] = s.seed();
  if (s.has_max_tokens()) body["max_tokens"] = s.max_tokens();
  if (s.stop_size() > 0) body["stop"] = std::vector<std::string>(s.stop().begin(), s.stop().end());
  if (s.ignore_eos()) body["ignore_eos"] = true;
  if (s.min_tokens() != 0) body["min_tokens"] = s.min_tokens();
  return body;
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
  auto prompts = http::PromptBuilder::Create(tokenizer, options.eos_token);
  if (!prompts.ok()) return prompts.status();
  return std::unique_ptr<InferenceService>(
      new InferenceService(tokenizer, generator, std::move(options), *std::move(prompts)));
}

InferenceService::InferenceService(const tok::Tokenizer* tokenizer, Generator* generator,
                                   InferenceServiceOptions options,
                                   std::unique_ptr<http::PromptBuilder> prompts)
    : tokenizer_(tokenizer),
      generator_(generator),
      options_(std::move(options)),
      prompts_(std::move(prompts)) {
  env_.tokenizer = tokenizer_;
  env_.generator = generator_;
  env_.prompts = prompts_.get();
  env_.skip_ids = detok::SpecialIdsExceptThink(*tokenizer_);
}

grpc::Status InferenceService::Generate(grpc::ServerContext* context,
                                        const r1::v1::GenerateRequest* request,
                                        grpc::ServerWriter<r1::v1::GenerateResponse>* writer) {
  const absl::Time received = absl::Now();
  if (options_.auth != nullptr) {
    if (grpc::Status st = options_.auth->Check(*context); !st.ok()) return st;
  }
  const ServedModel model = generator_->Model();
  if (request->sampling().stop_token_ids_size() > 0) {
    // The HTTP API has no such parameter; both front ends accept the same requests.
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "sampling.stop_token_ids is not supported; use sampling.stop strings");
  }
  if (request->messages_size() == 0 && request->prompt().empty() &&
      request->prompt_token_ids_size() == 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "one of messages, prompt or prompt_token_ids is required");
  }
  http::ApiKind kind = http::ApiKind::kChat;
  const json body = RequestJson(*request, &kind);
  auto req = http::ParseOpenAiRequestJson(kind, body, {model.id, model.vocab_size});
  if (!req.ok()) return ToGrpc(req.status());

  const std::string id = request->request_id().empty() ? NewRequestId() : request->request_id();
  absl::Duration timeout = options_.request_timeout;
  if (request->timeout_ms() > 0) {
    timeout = std::min(timeout, absl::Milliseconds(request->timeout_ms()));
  }
  auto session = http::CompletionSession::Start(&env_, *req, id, received, received + timeout);
  if (!session.ok()) {
    // A refusal for load says when to come back, as HTTP's Retry-After does.
    if (auto retry = session.status().GetPayload(kRetryAfterPayload)) {
      context->AddTrailingMetadata("retry-after", std::string(*retry));
    }
    return ToGrpc(session.status());
  }
  http::CompletionSession& s = **session;
  for (;;) {
    if (context->IsCancelled()) {
      s.Cancel();
      return grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled");
    }
    http::CompletionStep step = s.Next(options_.poll_interval);
    const bool last = step.finish != http::CompletionFinish::kNone;
    if (!last && step.token_ids.empty()) continue;  // nothing new in this poll
    r1::v1::GenerateResponse out;
    out.set_request_id(id);
    out.set_reasoning_delta(step.reasoning);
    out.set_content_delta(step.content);
    out.mutable_token_ids()->Add(step.token_ids.begin(), step.token_ids.end());
    if (last) {
      out.set_finished(true);
      out.set_finish_reason(
          step.finish == http::CompletionFinish::kStop     ? r1::v1::FINISH_REASON_STOP
          : step.finish == http::CompletionFinish::kLength ? r1::v1::FINISH_REASON_LENGTH
                                                           : r1::v1::FINISH_REASON_ERROR);
      out.set_error(std::string(step.error.message()));
      const http::Usage u = s.usage();
      out.mutable_usage()->set_prompt_tokens(static_cast<int32_t>(u.prompt_tokens));
      out.mutable_usage()->set_completion_tokens(static_cast<int32_t>(u.completion_tokens));
      out.mutable_usage()->set_reasoning_tokens(static_cast<int32_t>(u.reasoning_tokens));
    }
    if (!writer->Write(out)) {
      s.Cancel();
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    }
    if (!last) continue;
    if (step.finish == http::CompletionFinish::kError) {
      log::Warn(id, "gRPC generation ended with error: {}", step.error.ToString());
      // The deadline keeps its code; a failed or cancelled sequence is the cluster's problem.
      return step.error.code() == absl::StatusCode::kDeadlineExceeded
                 ? ToGrpc(step.error)
                 : grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(step.error.message()));
    }
    return grpc::Status::OK;
  }
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
    json body = {{"model", model.id}, {"messages", MessagesJson(request->messages())}};
    auto req = http::ParseOpenAiRequestJson(http::ApiKind::kChat, body, {model.id, 0});
    if (!req.ok()) return ToGrpc(req.status());
    auto ids = prompts_->Build(*req);
    if (!ids.ok()) return ToGrpc(ids.status());
    auto text = prompts_->RenderChat(req->messages);
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
