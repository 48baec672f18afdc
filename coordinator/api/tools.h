// Function calling in the request layer: the checks on a request's `tools` and `tool_choice`, and
// the tool calls a response carries.
//
// A chat request's tools go to the chat template as vLLM passes them (`tools`: a list of
// {"type": "function", "function": {"name", "description", "parameters"}}, description and
// parameters null when not given); the template decides what the model sees. The chat templates
// DeepSeek ships with V3 / R1 / V3-0324 / R1-0528 / V3.1 render assistant tool calls and tool
// results but not the tool definitions (vLLM serves those models with a tool template of its
// own, --chat-template); r1-coordinator --chat_template takes such a template. With tools and
// tool_choice "auto", the answer is parsed for DeepSeek's tool calls
// (coordinator/detok/tool_call_parser.h): each one becomes a ToolCall with an id of its own, the
// text around them stays content, and a sample that ends on EOS or a stop after at least one call
// finishes with "tool_calls". tool_choice "none", or no tools, parses nothing. Arguments are the
// model's JSON object as written; they are not checked against the tool's `parameters` schema, and
// the name is not checked against the tools offered (as vLLM).
//
// Stateless functions and value types; thread-safe.
#ifndef R1_COORDINATOR_API_TOOLS_H_
#define R1_COORDINATOR_API_TOOLS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/api/openai_request.h"

namespace r1::api {

// A tool call the model made, as a response carries it.
struct ToolCall {
  int index = 0;          // its position among its choice's calls: 0, 1, ...
  std::string id;         // "call_" + 24 letters and digits
  std::string name;       // the function's name
  std::string arguments;  // a JSON object's text
};

// The checks ValidateOpenAiRequest makes on `tools` (chat only; at most kMaxTools; names of 1–64
// of [A-Za-z0-9_-], unique; parameters a JSON object nested at most 64 deep). Errors name the
// parameter, e.g. "tools[2].function.name".
absl::Status ValidateTools(const OpenAiRequest& request);

// The request's answers are parsed for tool calls: a chat request with tools and tool_choice
// "auto".
bool ParsesToolCalls(const OpenAiRequest& request);

// A new tool-call id: "call_" + 24 random letters and digits.
std::string NewToolCallId();

// The ids of DeepSeek's tool-call markers (detok::kToolCallMarkers) the tokenizer has as added
// tokens: a response that parses tool calls decodes them as text rather than skipping them.
std::vector<int32_t> ToolCallMarkerIds(const tok::Tokenizer& tokenizer);

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_TOOLS_H_
