// r1-tokenize: a JSON-lines front end to the tokenizer and the chat template. Reads one JSON
// request per line from stdin and writes one JSON reply per line to stdout:
//
//   {"op":"encode","text":"...","add_special_tokens":false,"added_tokens":"all"}  -> {"ids":[...]}
//       ("text_hex" instead of "text" passes raw bytes; "added_tokens": all|non_special|none)
//   {"op":"decode","ids":[...],"skip_special_tokens":false}                     -> {"text":"..."}
//   {"op":"pretokenize","text":"..."}                                         -> {"pieces":[...]}
//   {"op":"chat","messages":[...],"add_generation_prompt":true,"bos_token":"...",
//    "chat_template_kwargs":{...}}                                               -> {"text":"..."}
//   {"op":"chat_encode", same fields}                                              -> {"ids":[...]}
//
// The chat template is --chat_template (a Jinja file) or else the tokenizer's (its
// tokenizer_config.json or chat_template.jinja), rendered with common/jinja as transformers'
// apply_chat_template renders it; bos_token / eos_token default to the tokenizer's. chat_encode
// encodes the rendered text with every added token matched.
//
// A request that fails gets {"error":"..."}; the process goes on with the next line.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "common/file_util.h"
#include "common/jinja/chat_context.h"
#include "common/jinja/template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, tokenizer, "models/r1-tiny/tokenizer.json",
          "tokenizer.json to load (with the tokenizer_config.json beside it, if any)");
ABSL_FLAG(std::string, chat_template, "",
          "Jinja chat template file for the chat ops; default: the tokenizer's");

namespace {

using json = nlohmann::json;
using r1::tok::Tokenizer;

json Error(absl::string_view what) { return json{{"error", std::string(what)}}; }

// Typed field readers that never throw (a field of the wrong type reads as the default).
bool BoolField(const json& obj, const char* key, bool dflt) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() ? it->get<bool>() : dflt;
}
std::string StringField(const json& obj, const char* key, const std::string& dflt) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : dflt;
}

absl::StatusOr<std::string> TextOf(const json& req) {
  if (auto it = req.find("text_hex"); it != req.end() && it->is_string()) {
    const std::string hex = it->get<std::string>();
    if (hex.size() % 2 != 0 ||
        hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return absl::InvalidArgumentError("text_hex is not hex");
    }
    return absl::HexStringToBytes(hex);
  }
  if (auto it = req.find("text"); it != req.end() && it->is_string()) return it->get<std::string>();
  return absl::InvalidArgumentError("missing text");
}

// The chat template in use: parsed once.
struct ChatTemplate {
  std::optional<r1::jinja::Template> tmpl;
  std::string error;  // why there is none
};

json RenderChat(const json& req, const Tokenizer* tok, const ChatTemplate& chat,
                std::string* text) {
  if (!chat.tmpl.has_value()) return Error(chat.error);
  r1::jinja::ChatTemplateInputs in;
  // ordered_json keeps the request's key order (seen by tojson); nlohmann::json sorts it.
  auto ordered = [](const json& j) { return nlohmann::ordered_json::parse(j.dump()); };
  in.messages = req.contains("messages") ? ordered(req["messages"]) : nlohmann::ordered_json();
  in.add_generation_prompt = BoolField(req, "add_generation_prompt", false);
  in.special_tokens = nlohmann::ordered_json::object();
  if (tok != nullptr && tok->bos_id().has_value()) {
    in.special_tokens["bos_token"] = tok->IdToToken(*tok->bos_id());
  }
  if (tok != nullptr && tok->eos_id().has_value()) {
    in.special_tokens["eos_token"] = tok->IdToToken(*tok->eos_id());
  }
  if (auto it = req.find("bos_token"); it != req.end() && it->is_string()) {
    in.special_tokens["bos_token"] = it->get<std::string>();
  }
  if (auto it = req.find("chat_template_kwargs"); it != req.end()) in.kwargs = ordered(*it);
  auto ctx = r1::jinja::BuildChatContext(in);
  if (!ctx.ok()) return Error(ctx.status().ToString());
  auto rendered = chat.tmpl->Render(*ctx);
  if (!rendered.ok()) return Error(rendered.status().ToString());
  *text = *std::move(rendered);
  return json();
}

json Handle(const json& req, const Tokenizer* tok, const ChatTemplate& chat) {
  if (!req.is_object()) return Error("request must be a JSON object");
  const std::string op = StringField(req, "op", "");
  if (op == "chat" || op == "chat_encode") {
    std::string text;
    if (json err = RenderChat(req, tok, chat, &text); !err.is_null()) return err;
    if (op == "chat") return json{{"text", text}};
    if (tok == nullptr) return Error("no tokenizer loaded");
    auto ids = tok->Encode(text);
    if (!ids.ok()) return Error(ids.status().ToString());
    return json{{"ids", *ids}};
  }
  if (tok == nullptr) return Error("no tokenizer loaded");
  if (op == "encode" || op == "pretokenize") {
    auto text = TextOf(req);
    if (!text.ok()) return Error(text.status().ToString());
    if (op == "pretokenize") {
      auto pieces = tok->PreTokenize(*text);
      if (!pieces.ok()) return Error(pieces.status().ToString());
      return json{{"pieces", *pieces}};
    }
    r1::tok::EncodeOptions opts;
    opts.add_special_tokens = BoolField(req, "add_special_tokens", false);
    const std::string mode = StringField(req, "added_tokens", "all");
    if (mode == "non_special") {
      opts.added_tokens = r1::tok::AddedTokenMatching::kNonSpecial;
    } else if (mode == "none") {
      opts.added_tokens = r1::tok::AddedTokenMatching::kNone;
    } else if (mode != "all") {
      return Error("added_tokens must be all, non_special or none");
    }
    auto ids = tok->Encode(*text, opts);
    if (!ids.ok()) return Error(ids.status().ToString());
    return json{{"ids", *ids}};
  }
  if (op == "decode") {
    auto it = req.find("ids");
    if (it == req.end() || !it->is_array()) return Error("missing ids");
    std::vector<int32_t> ids;
    for (const json& id : *it) {
      if (!id.is_number_integer() || id.get<int64_t>() < INT32_MIN ||
          id.get<int64_t>() > INT32_MAX) {
        return Error("ids must be 32-bit integers");
      }
      ids.push_back(id.get<int32_t>());
    }
    auto text = tok->Decode(ids, BoolField(req, "skip_special_tokens", false));
    if (!text.ok()) return Error(text.status().ToString());
    return json{{"text", *text}};
  }
  return Error("unknown op (encode, decode, pretokenize, chat, chat_encode)");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "JSON lines on stdin -> JSON lines on stdout. Ops: encode, decode, pretokenize, chat, "
      "chat_encode (see the comment at the top of common/tokenizer/tokenize_main.cc).");
  absl::ParseCommandLine(argc, argv);
  std::unique_ptr<Tokenizer> tok;
  const std::string path = absl::GetFlag(FLAGS_tokenizer);
  if (!path.empty()) {
    auto loaded = Tokenizer::LoadFromFile(path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "r1-tokenize: %s\n", loaded.status().ToString().c_str());
      return 1;
    }
    tok = std::move(*loaded);
  }
  ChatTemplate chat;
  std::string source = tok != nullptr ? tok->chat_template() : std::string();
  std::string origin = tok != nullptr ? tok->chat_template_source() : "no tokenizer";
  if (const std::string file = absl::GetFlag(FLAGS_chat_template); !file.empty()) {
    auto text = r1::ReadFileBounded(file, 1 << 20);
    if (!text.ok()) {
      std::fprintf(stderr, "r1-tokenize: %s\n", text.status().ToString().c_str());
      return 1;
    }
    source = *std::move(text);
    origin = file;
  }
  if (source.empty()) {
    chat.error = "no chat template (" + origin + ")";
  } else if (auto parsed = r1::jinja::Template::Parse(source); parsed.ok()) {
    chat.tmpl = *std::move(parsed);
  } else {
    std::fprintf(stderr, "r1-tokenize: %s: %s\n", origin.c_str(),
                 std::string(parsed.status().message()).c_str());
    return 1;
  }
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
    json reply = req.is_discarded() ? Error("invalid JSON") : Handle(req, tok.get(), chat);
    std::cout << reply.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
  std::cout.flush();
  return 0;
}
