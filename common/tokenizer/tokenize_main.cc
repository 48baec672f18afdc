// r1-tokenize: a JSON-lines front end to the tokenizer and the R1 chat template. Reads one JSON
// request per line from stdin and writes one JSON reply per line to stdout:
//
//   {"op":"encode","text":"...","add_special_tokens":false,"added_tokens":"all"}  -> {"ids":[...]}
//       ("text_hex" instead of "text" passes raw bytes; "added_tokens": all|non_special|none)
//   {"op":"decode","ids":[...],"skip_special_tokens":false}                     -> {"text":"..."}
//   {"op":"pretokenize","text":"..."}                                         -> {"pieces":[...]}
//   {"op":"chat","messages":[...],"add_generation_prompt":true,"bos_token":"..."} -> {"text":"..."}
//   {"op":"chat_encode","messages":[...],"add_generation_prompt":true}          -> {"ids":[...]}
//
// A request that fails gets {"error":"..."}; the process goes on with the next line.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, tokenizer, "models/r1-tiny/tokenizer.json",
          "tokenizer.json to load (with the tokenizer_config.json beside it, if any)");

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

json Handle(const json& req, const Tokenizer* tok) {
  if (!req.is_object()) return Error("request must be a JSON object");
  const std::string op = StringField(req, "op", "");
  if (op == "chat" || op == "chat_encode") {
    r1::tok::ChatTemplateOptions opts;
    opts.add_generation_prompt = BoolField(req, "add_generation_prompt", false);
    opts.bos_token = StringField(req, "bos_token", opts.bos_token);
    auto text =
        r1::tok::RenderR1ChatTemplate(req.contains("messages") ? req["messages"] : json(), opts);
    if (!text.ok()) return Error(text.status().ToString());
    if (op == "chat") return json{{"text", *text}};
    if (tok == nullptr) return Error("no tokenizer loaded");
    auto ids = tok->Encode(*text);
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
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
    json reply = req.is_discarded() ? Error("invalid JSON") : Handle(req, tok.get());
    std::cout << reply.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
  std::cout.flush();
  return 0;
}
