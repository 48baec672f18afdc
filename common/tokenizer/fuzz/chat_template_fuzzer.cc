// libFuzzer target for R1's chat template renderer (RenderR1ChatTemplate): the bytes as JSON (a
// message array, or an object whose "messages" is one), rendered with and without the generation
// prompt. Properties:
//   - never a crash, hang or sanitizer report; every refusal is InvalidArgument;
//   - both renderings succeed or fail together; the prompt starts with BOS, and the one with the
//     generation prompt is the other plus "<｜Assistant｜><think>\n" (or the same text when the
//     conversation ends in tool outputs, which end "<｜tool▁outputs▁end｜>");
//   - messages the template skips (roles other than system/user/assistant/tool) can be removed
//     without changing the prompt;
//   - the prompt is valid UTF-8 that the r1-tiny tokenizer encodes and decodes back to itself.
// The HTTP API's prompt path (validated messages → PromptBuilder → ids) is fuzzed by
// coordinator/http/fuzz/openai_request_fuzzer.cc. Run: scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/fuzz/fuzz_support.h"

namespace {

using json = nlohmann::json;
using r1::tok::ChatTemplateOptions;
using r1::tok::RenderR1ChatTemplate;

constexpr char kGenerationPrompt[] = "<｜Assistant｜><think>\n";
constexpr char kToolOutputsEnd[] = "<｜tool▁outputs▁end｜>";

bool Rendered(const json& m) {
  if (!m.is_object()) return true;  // refused as a whole anyway
  auto role = m.find("role");
  if (role == m.end() || !role->is_string()) return false;
  const std::string& r = role->get_ref<const std::string&>();
  return r == "system" || r == "user" || r == "assistant" || r == "tool";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json parsed = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return 0;
  const json& messages = parsed.is_object() && parsed.contains("messages")
                             ? parsed["messages"]
                             : static_cast<const json&>(parsed);
  ChatTemplateOptions plain;
  ChatTemplateOptions gen;
  gen.add_generation_prompt = true;
  auto a = RenderR1ChatTemplate(messages, plain);
  auto b = RenderR1ChatTemplate(messages, gen);
  R1_FUZZ_CHECK(a.ok() == b.ok());
  if (!a.ok()) {
    R1_FUZZ_CHECK(a.status().code() == absl::StatusCode::kInvalidArgument);
    R1_FUZZ_CHECK(b.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  R1_FUZZ_CHECK(absl::StartsWith(*a, plain.bos_token));
  if (*b == *a) {
    R1_FUZZ_CHECK(absl::EndsWith(*a, kToolOutputsEnd));
  } else {
    R1_FUZZ_CHECK(*b == *a + kGenerationPrompt);
  }

  json kept = json::array();
  for (const json& m : messages) {
    if (Rendered(m)) kept.push_back(m);
  }
  if (kept.size() != messages.size()) {
    auto c = RenderR1ChatTemplate(kept, gen);
    R1_FUZZ_CHECK(c.ok() && *c == *b);
  }

  const auto& tok = r1::fuzz::TinyTokenizer();
  auto ids = tok.Encode(*b);
  R1_FUZZ_CHECK(ids.ok());
  auto back = tok.Decode(*ids);
  R1_FUZZ_CHECK(back.ok() && *back == *b);
  return 0;
}
