// Function calling in the OpenAI request parser (declared in internal/request_json.h): `tools`,
// `tool_choice` and `parallel_tool_calls` as JSON shapes; the value checks (names, counts,
// schemas) are api::ValidateTools's (coordinator/api/tools.h).
#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/internal/request_json.h"

namespace r1::http::internal {
namespace {

using api::ChatTool;
using api::InvalidRequest;
using api::OpenAiRequest;
using json = nlohmann::json;

absl::Status Missing(const std::string& param) {
  return InvalidRequest(absl::StrCat("Missing required parameter: '", param, "'."), param,
                        "missing_required_parameter");
}

absl::StatusOr<ChatTool> ParseTool(const json& tool, const std::string& param) {
  if (!tool.is_object()) return WrongType(param, "an object", tool);
  const json* type = Field(tool, "type");
  if (type == nullptr) return Missing(absl::StrCat(param, ".type"));
  if (!type->is_string()) return WrongType(absl::StrCat(param, ".type"), "a string", *type);
  if (type->get<std::string>() != "function") {
    return Unsupported(absl::StrCat(param, ".type"),
                       absl::StrCat("tools of type '", type->get<std::string>(),
                                    "' are not supported; only 'function'."));
  }
  const std::string fparam = absl::StrCat(param, ".function");
  const json* fn = Field(tool, "function");
  if (fn == nullptr) return Missing(fparam);
  if (!fn->is_object()) return WrongType(fparam, "an object", *fn);
  ChatTool out;
  const json* name = Field(*fn, "name");
  if (name == nullptr) return Missing(absl::StrCat(fparam, ".name"));
  if (!name->is_string()) return WrongType(absl::StrCat(fparam, ".name"), "a string", *name);
  out.name = name->get<std::string>();
  if (const json* d = Field(*fn, "description")) {
    if (!d->is_string()) return WrongType(absl::StrCat(fparam, ".description"), "a string", *d);
    out.description = d->get<std::string>();
  }
  if (const json* p = Field(*fn, "parameters")) {
    if (!p->is_object()) {
      return WrongType(absl::StrCat(fparam, ".parameters"), "a JSON Schema object", *p);
    }
    out.parameters_json = p->dump();
  }
  // strict: schema adherence is not enforced (nothing constrains decoding); accepted as vLLM does.
  if (const json* strict = Field(*fn, "strict")) {
    if (!strict->is_boolean()) {
      return WrongType(absl::StrCat(fparam, ".strict"), "a boolean", *strict);
    }
  }
  return out;
}

absl::Status ParseToolChoice(const json& body, OpenAiRequest* out) {
  const json* choice = Field(body, "tool_choice");
  if (choice == nullptr) return absl::OkStatus();
  if (choice->is_object()) {
    return Unsupported("tool_choice",
                       "naming the function to call is not supported; use 'auto' or 'none'.");
  }
  if (!choice->is_string()) return WrongType("tool_choice", "a string", *choice);
  const std::string& v = choice->get_ref<const std::string&>();
  if (v == "auto") {
    out->tool_choice = api::ToolChoice::kAuto;
  } else if (v == "none") {
    out->tool_choice = api::ToolChoice::kNone;
  } else if (v == "required") {
    return Unsupported("tool_choice",
                       "'required' is not supported (calls are not forced); use 'auto' or "
                       "'none'.");
  } else {
    return BadValue("tool_choice", absl::StrCat("'", v, "' is not one of 'auto', 'none'."));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseTools(api::ApiKind kind, const json& body, OpenAiRequest* out) {
  if (const json* tools = Field(body, "tools")) {
    if (!tools->is_array()) return WrongType("tools", "an array", *tools);
    if (kind != api::ApiKind::kChat && !tools->empty()) {
      return Unsupported("tools", "tools apply to chat completions only.");
    }
    if (tools->size() > api::kMaxTools) {
      return BadValue("tools",
                      absl::StrCat("at most ", api::kMaxTools, " tools, got ", tools->size(), "."));
    }
    for (size_t i = 0; i < tools->size(); ++i) {
      absl::StatusOr<ChatTool> tool = ParseTool((*tools)[i], absl::StrCat("tools[", i, "]"));
      if (!tool.ok()) return tool.status();
      out->tools.push_back(*std::move(tool));
    }
  }
  absl::Status s = ParseToolChoice(body, out);
  if (!s.ok()) return s;
  // Several calls in one turn are what DeepSeek's format allows; false is not enforced.
  auto parallel = OptBool(body, "parallel_tool_calls", "parallel_tool_calls");
  return parallel.status();
}

}  // namespace r1::http::internal
