#include "coordinator/api/chat_template_renderer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/jinja/chat_context.h"
#include "common/status_macros.h"
#include "coordinator/api/api_status.h"

namespace r1::api {
namespace {

using ojson = nlohmann::ordered_json;

// Markers: U+E000 <index> U+E001 (private-use characters; the template may not contain U+E000).
constexpr absl::string_view kOpen = "\xEE\x80\x80";
constexpr absl::string_view kClose = "\xEE\x80\x81";
// As deep as common/jinja accepts context JSON.
constexpr int kMaxKwargsDepth = 128;

// chat_template_kwargs may not set these (see the header).
constexpr absl::string_view kReservedKwargs[] = {
    "messages", "tools", "documents", "add_generation_prompt", "chat_template", "tokenize"};

// The client strings of one request with their special-token strings replaced by markers, and
// the literals the markers stand for.
class Escaper {
 public:
  Escaper(const tok::AddedTokenMatcher& matcher, const std::vector<bool>& special)
      : matcher_(matcher), special_(special) {}

  std::string Escape(absl::string_view s) {
    std::string out;
    segments_.clear();
    matcher_.Split(s, tok::AddedTokenMatching::kAll, &segments_);
    for (const tok::Segment& seg : segments_) {
      absl::string_view part = s.substr(seg.begin, seg.end - seg.begin);
      if (seg.token >= 0 && special_[static_cast<size_t>(seg.token)]) {
        AppendMarker(part, &out);
        continue;
      }
      for (size_t at = part.find(kOpen); at != absl::string_view::npos; at = part.find(kOpen)) {
        absl::StrAppend(&out, part.substr(0, at));
        AppendMarker(kOpen, &out);
        part.remove_prefix(at + kOpen.size());
      }
      absl::StrAppend(&out, part);
    }
    return out;
  }

  // Strings and object keys, at any depth; false when deeper than kMaxKwargsDepth.
  bool EscapeJson(const ojson& in, int depth, ojson* out) {
    if (depth > kMaxKwargsDepth) return false;
    if (in.is_string()) {
      *out = Escape(in.get_ref<const std::string&>());
    } else if (in.is_array()) {
      *out = ojson::array();
      for (const ojson& e : in) {
        ojson v;
        if (!EscapeJson(e, depth + 1, &v)) return false;
        out->push_back(std::move(v));
      }
    } else if (in.is_object()) {
      *out = ojson::object();
      for (auto it = in.begin(); it != in.end(); ++it) {
        ojson v;
        if (!EscapeJson(it.value(), depth + 1, &v)) return false;
        (*out)[Escape(it.key())] = std::move(v);
      }
    } else {
      *out = in;
    }
    return true;
  }

  // The rendered text cut at the markers.
  absl::StatusOr<std::vector<ChatPiece>> Split(absl::string_view rendered) const {
    std::vector<ChatPiece> pieces;
    absl::string_view rest = rendered;
    while (!rest.empty()) {
      const size_t open = rest.find(kOpen);
      if (open != 0) {
        pieces.push_back({std::string(rest.substr(0, open)), false});
        if (open == absl::string_view::npos) break;
        rest.remove_prefix(open);
      }
      rest.remove_prefix(kOpen.size());
      const size_t close = rest.find(kClose);
      size_t index = 0;
      const absl::string_view digits = rest.substr(0, close);
      if (close == absl::string_view::npos || digits.empty() || digits.size() > 9 ||
          !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(digits, &index) || index >= literals_.size()) {
        return InvalidRequest(
            "chat template: the template cut apart a special-token string of the request's text",
            "messages");
      }
      pieces.push_back({literals_[index], true});
      rest.remove_prefix(close + kClose.size());
    }
    return pieces;
  }

 private:
  void AppendMarker(absl::string_view literal, std::string* out) {
    absl::StrAppend(out, kOpen, literals_.size(), kClose);
    literals_.emplace_back(literal);
  }

  const tok::AddedTokenMatcher& matcher_;
  const std::vector<bool>& special_;
  std::vector<tok::Segment> segments_;
  std::vector<std::string> literals_;
};

ojson MessagesJson(const std::vector<ChatMessage>& messages, Escaper* escaper) {
  ojson out = ojson::array();
  for (const ChatMessage& m : messages) {
    ojson jm = ojson::object();
    jm["role"] = escaper->Escape(m.role);
    jm["content"] = m.content.has_value() ? ojson(escaper->Escape(*m.content)) : ojson(nullptr);
    if (m.has_tool_calls) {
      ojson calls = ojson::array();
      for (const ChatToolCall& c : m.tool_calls) {
        ojson fn = ojson::object();
        fn["name"] = escaper->Escape(c.name);
        fn["arguments"] = escaper->Escape(c.arguments);
        ojson call = ojson::object();
        if (!c.id.empty()) call["id"] = escaper->Escape(c.id);
        call["type"] = escaper->Escape(c.type);
        call["function"] = std::move(fn);
        calls.push_back(std::move(call));
      }
      jm["tool_calls"] = std::move(calls);
    }
    if (!m.tool_call_id.empty()) jm["tool_call_id"] = escaper->Escape(m.tool_call_id);
    out.push_back(std::move(jm));
  }
  return out;
}

// The request's tools as vLLM passes them (null when there are none), strings escaped.
absl::StatusOr<ojson> ToolsJson(const std::vector<ChatTool>& tools, Escaper* escaper) {
  if (tools.empty()) return ojson();
  ojson out = ojson::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const ChatTool& t = tools[i];
    ojson fn = ojson::object();
    fn["name"] = escaper->Escape(t.name);
    // As vLLM passes them: description and parameters always, null when not given.
    fn["description"] =
        t.description.has_value() ? ojson(escaper->Escape(*t.description)) : ojson(nullptr);
    fn["parameters"] = nullptr;
    if (!t.parameters_json.empty()) {
      const std::string param = absl::StrCat("tools[", i, "].function.parameters");
      const ojson parsed = ojson::parse(t.parameters_json.begin(), t.parameters_json.end(), nullptr,
                                        /*allow_exceptions=*/false);
      ojson escaped;
      if (parsed.is_discarded() || !parsed.is_object() ||
          !escaper->EscapeJson(parsed, 1, &escaped)) {
        return InvalidRequest(absl::StrCat("'", param, "' must be a JSON Schema object."), param,
                              "invalid_value");
      }
      fn["parameters"] = std::move(escaped);
    }
    ojson tool = ojson::object();
    tool["type"] = "function";
    tool["function"] = std::move(fn);
    out.push_back(std::move(tool));
  }
  return out;
}

// The request's kwargs: a JSON object without reserved names, its strings escaped.
absl::StatusOr<ojson> KwargsJson(absl::string_view kwargs_json, Escaper* escaper) {
  if (kwargs_json.empty()) return ojson();
  ojson kwargs = ojson::parse(kwargs_json.begin(), kwargs_json.end(), nullptr,
                              /*allow_exceptions=*/false);
  if (kwargs.is_discarded() || !kwargs.is_object()) {
    return InvalidRequest("'chat_template_kwargs' must be a JSON object.", "chat_template_kwargs",
                          "invalid_type");
  }
  for (absl::string_view reserved : kReservedKwargs) {
    if (kwargs.contains(std::string(reserved))) {
      return InvalidRequest(
          absl::StrCat("'chat_template_kwargs' may not set '", reserved, "': the server sets it."),
          "chat_template_kwargs", "invalid_value");
    }
  }
  ojson escaped = ojson::object();
  for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
    ojson v;
    if (!escaper->EscapeJson(it.value(), 1, &v)) {
      return InvalidRequest(absl::StrCat("'chat_template_kwargs' is nested deeper than ",
                                         kMaxKwargsDepth, " levels."),
                            "chat_template_kwargs", "invalid_value");
    }
    escaped[it.key()] = std::move(v);
  }
  return escaped;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChatTemplateRenderer>> ChatTemplateRenderer::Create(
    const ChatTemplateConfig& config, const std::vector<tok::AddedToken>& added_tokens) {
  if (config.source.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no chat template (", config.origin, ")"));
  }
  if (absl::string_view(config.source).find(kOpen) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.origin,
                     ": the chat template contains U+E000, which the server "
                     "reserves for marking client text"));
  }
  auto parsed = jinja::Template::Parse(config.source);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(config.origin, ": ", parsed.status().message()));
  }
  std::unique_ptr<ChatTemplateRenderer> r(
      new ChatTemplateRenderer(*std::move(parsed), config, added_tokens));
  // A template that cannot render a single user message would fail every request.
  ChatMessage hello;
  hello.role = "user";
  hello.content = "Hello";
  if (auto probe = r->Render({hello}, {}, ""); !probe.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.origin,
        ": the chat template fails on a one-message conversation: ", probe.status().message()));
  }
  return r;
}

ChatTemplateRenderer::ChatTemplateRenderer(jinja::Template tmpl, const ChatTemplateConfig& config,
                                           const std::vector<tok::AddedToken>& added_tokens)
    : template_(std::move(tmpl)),
      limits_(config.limits),
      special_tokens_(ojson::object()),
      matcher_(added_tokens) {
  if (!config.bos_token.empty()) special_tokens_["bos_token"] = config.bos_token;
  if (!config.eos_token.empty()) special_tokens_["eos_token"] = config.eos_token;
  special_.reserve(added_tokens.size());
  for (const tok::AddedToken& t : added_tokens) special_.push_back(t.special);
}

absl::StatusOr<std::vector<ChatPiece>> ChatTemplateRenderer::Render(
    const std::vector<ChatMessage>& messages, const std::vector<ChatTool>& tools,
    absl::string_view kwargs_json) const {
  Escaper escaper(matcher_, special_);
  jinja::ChatTemplateInputs in;
  in.messages = MessagesJson(messages, &escaper);
  ASSIGN_OR_RETURN(in.tools, ToolsJson(tools, &escaper));
  in.add_generation_prompt = true;
  in.special_tokens = special_tokens_;
  ASSIGN_OR_RETURN(in.kwargs, KwargsJson(kwargs_json, &escaper));
  auto context = jinja::BuildChatContext(in);
  if (!context.ok()) {
    return InvalidRequest(context.status().message(), "chat_template_kwargs", "invalid_value");
  }
  auto rendered = template_.Render(*context, limits_);
  if (!rendered.ok()) {
    return InvalidRequest(absl::StrCat("chat template: ", rendered.status().message()), "messages");
  }
  return escaper.Split(*rendered);
}

}  // namespace r1::api
