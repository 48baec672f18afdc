#include "common/tokenizer/chat_template.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace r1::tok {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kThinkEnd = "</think>";

absl::Status Bad(size_t index, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("messages[", index, "]: ", what));
}

// message[key] as a string; a missing key, null or another type is an error (the template would
// fail concatenating it).
absl::StatusOr<std::string> StringField(const json& obj, const char* key, size_t index,
                                        absl::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    return Bad(index, absl::StrCat(where, key, " must be a string"));
  }
  return it->get<std::string>();
}

std::string RoleOf(const json& m) {
  auto it = m.find("role");
  return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
}

absl::Status AppendToolCall(const json& call, size_t index, size_t k, bool first,
                            const json& message, std::string* out) {
  const std::string where = absl::StrCat("tool_calls[", k, "].");
  if (!call.is_object()) return Bad(index, absl::StrCat(where, " must be an object"));
  ASSIGN_OR_RETURN(std::string type, StringField(call, "type", index, where));
  auto fn = call.find("function");
  if (fn == call.end() || !fn->is_object()) {
    return Bad(index, absl::StrCat(where, "function must be an object"));
  }
  ASSIGN_OR_RETURN(std::string name, StringField(*fn, "name", index, where + "function."));
  ASSIGN_OR_RETURN(std::string args, StringField(*fn, "arguments", index, where + "function."));
  if (first) {
    auto content = message.find("content");
    if (content == message.end() || !(content->is_null() || content->is_string())) {
      return Bad(index, "content must be a string or null");
    }
    absl::StrAppend(out, "<｜Assistant｜>", content->is_null() ? "" : content->get<std::string>(),
                    "<｜tool▁calls▁begin｜>");
  } else {
    out->push_back('\n');
  }
  absl::StrAppend(out, "<｜tool▁call▁begin｜>", type, "<｜tool▁sep｜>", name, "\n```json\n", args,
                  "\n```<｜tool▁call▁end｜>");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RenderR1ChatTemplate(const json& messages,
                                                 const ChatTemplateOptions& options) {
  if (!messages.is_array()) return absl::InvalidArgumentError("messages must be an array");
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!messages[i].is_object()) return Bad(i, "must be an object");
  }
  std::string out = options.bos_token;
  bool first_system = true;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (RoleOf(messages[i]) != "system") continue;
    ASSIGN_OR_RETURN(std::string content, StringField(messages[i], "content", i, ""));
    if (!first_system) out += "\n\n";
    out += content;
    first_system = false;
  }
  bool seen_tool_call = false;    // the template's ns.is_first (never reset)
  bool in_tool_outputs = false;   // ns.is_tool
  bool first_tool_output = true;  // ns.is_output_first (never reset)
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string role = RoleOf(m);
    if (role == "user") {
      ASSIGN_OR_RETURN(std::string content, StringField(m, "content", i, ""));
      in_tool_outputs = false;
      absl::StrAppend(&out, "<｜User｜>", content);
    } else if (role == "assistant" && m.contains("tool_calls")) {
      const json& calls = m["tool_calls"];
      if (!calls.is_array()) return Bad(i, "tool_calls must be a list");
      in_tool_outputs = false;
      for (size_t k = 0; k < calls.size(); ++k) {
        RETURN_IF_ERROR(AppendToolCall(calls[k], i, k, !seen_tool_call, m, &out));
        seen_tool_call = true;
      }
      out += "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
    } else if (role == "assistant") {
      ASSIGN_OR_RETURN(std::string content, StringField(m, "content", i, ""));
      if (in_tool_outputs) {
        absl::StrAppend(&out, "<｜tool▁outputs▁end｜>", content, "<｜end▁of▁sentence｜>");
        in_tool_outputs = false;
      } else {
        const size_t end = absl::string_view(content).rfind(kThinkEnd);
        const absl::string_view shown =
            end == absl::string_view::npos
                ? absl::string_view(content)
                : absl::string_view(content).substr(end + kThinkEnd.size());
        absl::StrAppend(&out, "<｜Assistant｜>", shown, "<｜end▁of▁sentence｜>");
      }
    } else if (role == "tool") {
      ASSIGN_OR_RETURN(std::string content, StringField(m, "content", i, ""));
      in_tool_outputs = true;
      if (first_tool_output) {
        absl::StrAppend(&out, "<｜tool▁outputs▁begin｜>");
        first_tool_output = false;
      }
      absl::StrAppend(&out, "<｜tool▁output▁begin｜>", content, "<｜tool▁output▁end｜>");
    }
  }
  if (in_tool_outputs) out += "<｜tool▁outputs▁end｜>";
  if (options.add_generation_prompt && !in_tool_outputs) out += "<｜Assistant｜><think>\n";
  return out;
}

}  // namespace r1::tok
