#include "coordinator/api/tools.h"

#include <algorithm>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "coordinator/api/api_status.h"
#include "coordinator/api/json_nesting.h"
#include "coordinator/detok/tool_call_parser.h"
#include "nlohmann/json.hpp"

namespace r1::api {
namespace {

// As deep as the HTTP API accepts a whole body.
constexpr int kMaxParametersDepth = 64;

absl::Status BadValue(absl::string_view param, absl::string_view why) {
  return InvalidRequest(absl::StrCat("Invalid value for '", param, "': ", why), param,
                        "invalid_value");
}

bool ValidToolName(absl::string_view name) {
  return !name.empty() && name.size() <= kMaxToolNameBytes &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
         });
}

}  // namespace

absl::Status ValidateTools(const OpenAiRequest& request) {
  if (request.tools.empty()) return absl::OkStatus();
  if (request.kind != ApiKind::kChat) {
    return InvalidRequest("'tools' applies to chat completions only.", "tools",
                          "unsupported_parameter");
  }
  if (request.tools.size() > kMaxTools) {
    return BadValue("tools",
                    absl::StrCat("at most ", kMaxTools, " tools, got ", request.tools.size(), "."));
  }
  absl::flat_hash_set<absl::string_view> names;
  for (size_t i = 0; i < request.tools.size(); ++i) {
    const ChatTool& t = request.tools[i];
    const std::string param = absl::StrCat("tools[", i, "].function");
    if (!ValidToolName(t.name)) {
      return BadValue(absl::StrCat(param, ".name"),
                      absl::StrCat("function names must be 1 to ", kMaxToolNameBytes,
                                   " letters, digits, underscores or dashes."));
    }
    if (!names.insert(t.name).second) {
      return BadValue(absl::StrCat(param, ".name"),
                      absl::StrCat("the function name '", t.name, "' is given more than once."));
    }
    if (t.parameters_json.empty()) continue;
    const std::string pparam = absl::StrCat(param, ".parameters");
    if (JsonNestingDepth(t.parameters_json) > kMaxParametersDepth) {
      return BadValue(pparam, absl::StrCat("nested deeper than ", kMaxParametersDepth, " levels."));
    }
    const nlohmann::json parsed = nlohmann::json::parse(
        t.parameters_json.begin(), t.parameters_json.end(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return InvalidRequest(
          absl::StrCat("Invalid type for '", pparam, "': expected a JSON Schema object."), pparam,
          "invalid_type");
    }
  }
  return absl::OkStatus();
}

bool ParsesToolCalls(const OpenAiRequest& request) {
  return request.kind == ApiKind::kChat && !request.tools.empty() &&
         request.tool_choice == ToolChoice::kAuto;
}

std::string NewToolCallId() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id.push_back(kAlphabet[pick(rng)]);
  return id;
}

std::vector<int32_t> ToolCallMarkerIds(const tok::Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  for (absl::string_view marker : detok::kToolCallMarkers) {
    if (std::optional<int32_t> id = tokenizer.AddedTokenId(marker)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace r1::api
