// The gRPC Inference API's requests as the request layer's typed request (api::OpenAiRequest,
// coordinator/api/openai_request.h), mapped field by field and then checked by
// ValidateOpenAiRequest — the same checks the HTTP parser applies — so both APIs accept and refuse
// the same values.
//
// GenerateRequest: exactly one of `messages` (chat), `prompt` (completion text) or
// `prompt_token_ids` (completion ids). SamplingParams zero values mean the defaults the proto
// documents: top_p 0 = 1, repetition_penalty 0 = 1, n 0 = 1; temperature 0 is greedy. A message
// role "developer" is "system"; a tool call's empty type is "function"; an assistant message with
// tool calls and empty content has no content. ChatMessage.tool_call_id and ToolCall.id reach the
// template (DeepSeek's templates do not render them), as in the HTTP API. `tools` are
// api::ChatTools (validated by api::ValidateTools); tool_choice "" and "auto" are kAuto, "none"
// kNone, "required" is refused as unsupported and any other value as invalid, naming
// `tool_choice`.
//
// Errors: INVALID_ARGUMENT / NOT_FOUND as absl::Status with the OpenAI error details
// (coordinator/api/api_status.h), `param` naming the OpenAI parameter. Stateless functions;
// thread-safe.
#ifndef R1_COORDINATOR_GRPC_API_GENERATE_REQUEST_H_
#define R1_COORDINATOR_GRPC_API_GENERATE_REQUEST_H_

#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/api/openai_request.h"
#include "r1/v1/inference.pb.h"

namespace r1 {

// The tools of a chat (not yet validated).
std::vector<api::ChatTool> ChatToolsFromProto(
    const google::protobuf::RepeatedPtrField<r1::v1::Tool>& tools);

// The messages of a chat (not yet validated).
std::vector<api::ChatMessage> ChatMessagesFromProto(
    const google::protobuf::RepeatedPtrField<r1::v1::ChatMessage>& messages);

// The validated request of a GenerateRequest.
absl::StatusOr<api::OpenAiRequest> OpenAiRequestFromProto(const r1::v1::GenerateRequest& request,
                                                          const api::RequestLimits& limits);

}  // namespace r1

#endif  // R1_COORDINATOR_GRPC_API_GENERATE_REQUEST_H_
