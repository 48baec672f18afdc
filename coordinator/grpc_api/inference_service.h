// InferenceService: the public gRPC API r1.v1.Inference (proto/r1/v1/inference.proto) with the
// OpenAI HTTP API's semantics, an adapter over the request layer (coordinator/api). A
// GenerateRequest is mapped field by field to api::OpenAiRequest and checked by the same
// ValidateOpenAiRequest as the HTTP parser's requests (generate_request.h: messages → chat, prompt
// / prompt_token_ids → completion), so both front ends accept and refuse the same values; prompts
// are built by the same PromptBuilder, and output runs through the same CompletionSession
// (OutputTracker: incremental detokenizer, reasoning split at </think>, stop strings; deadline;
// cancellation; n samples; logprobs).
//
//   Generate   server-streaming: one GenerateResponse per batch of new text of one sample
//              (`index`; reasoning_delta / content_delta, the token ids and, with
//              sampling.logprobs, their logprobs with sampling.top_logprobs alternatives); each
//              sample's last message has finished, finish_reason and that sample's usage. With
//              n > 1 the samples' messages interleave. Bad requests: INVALID_ARGUMENT (NOT_FOUND
//              for an unknown model) before any message; a generation that fails midway ends with
//              UNAVAILABLE after a last message carrying FINISH_REASON_ERROR and the error (the
//              other samples are cancelled). A cancelled call (client gone, deadline) cancels
//              every sample's sequence in the cluster.
//   Tokenize   text (special tokens matched) or messages rendered with R1's chat template.
//   ListModels the served model.
//
// Threading and its cost: gRPC's sync server calls it from many threads, and a Generate call holds
// one of them for its whole life, blocked in CompletionSession::Next(poll_interval) (waking every
// poll_interval to look for a cancelled call). So n concurrent streams cost n threads (a stack
// each, mostly untouched, and a wakeup per poll_interval), bounded only by the cluster's
// admission (--max_inflight) — gRPC's thread pool has no limit without a ResourceQuota. The
// OpenAI HTTP API holds no thread per stream (coordinator/http); doing the same here needs gRPC's
// callback API (a ServerWriteReactor driven by CompletionSession::SetNotify).
//
// Thread-safe. The tokenizer, generator and prompt builder are borrowed and must outlive *this.
#ifndef R1_COORDINATOR_GRPC_API_INFERENCE_SERVICE_H_
#define R1_COORDINATOR_GRPC_API_INFERENCE_SERVICE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/api/completion_session.h"
#include "coordinator/api/prompt_builder.h"
#include "coordinator/core/generator.h"
#include "coordinator/grpc_api/grpc_auth.h"
#include "r1/v1/inference.grpc.pb.h"

namespace r1 {

struct InferenceServiceOptions {
  // Upper bound on a generation (GenerateRequest.timeout_ms may shorten it).
  absl::Duration request_timeout = absl::Seconds(600);
  // How often a generation checks for a cancelled call while it waits for tokens.
  absl::Duration poll_interval = absl::Milliseconds(50);
  std::string eos_token = "<｜end▁of▁sentence｜>";
  std::vector<int32_t> extra_eos_ids;  // as OpenAiHttpServerOptions::extra_eos_ids
  // As OpenAiHttpServerOptions::chat_template / chat_template_origin (empty = the tokenizer's).
  std::string chat_template;
  std::string chat_template_origin;
  // API keys every method checks first. Nullable (open); borrowed, must outlive the service.
  const GrpcAuth* auth = nullptr;
};

class InferenceService final : public r1::v1::Inference::Service {
 public:
  static absl::StatusOr<std::unique_ptr<InferenceService>> Create(
      const tok::Tokenizer* tokenizer, Generator* generator, InferenceServiceOptions options = {});

  grpc::Status Generate(grpc::ServerContext* context, const r1::v1::GenerateRequest* request,
                        grpc::ServerWriter<r1::v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const r1::v1::TokenizeRequest* request,
                        r1::v1::TokenizeResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const r1::v1::ListModelsRequest* request,
                          r1::v1::ListModelsResponse* response) override;

 private:
  InferenceService(const tok::Tokenizer* tokenizer, Generator* generator,
                   InferenceServiceOptions options, std::unique_ptr<api::PromptBuilder> prompts);

  const tok::Tokenizer* tokenizer_;
  Generator* generator_;
  InferenceServiceOptions options_;
  std::unique_ptr<api::PromptBuilder> prompts_;
  api::CompletionEnv env_;  // points at the members above
};

}  // namespace r1

#endif  // R1_COORDINATOR_GRPC_API_INFERENCE_SERVICE_H_
