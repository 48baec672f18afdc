// libFuzzer target for the Jinja interpreter. Input: a template, optionally followed by
// "\n#---\n" and a JSON object of variables (else a fixed chat conversation is used). Properties:
//   - Parse and Render never crash, hang or trip a sanitizer, whatever the template and data;
//   - every refusal is InvalidArgument (template or data) or ResourceExhausted (a limit), and
//     every render error names its template line;
//   - rendering is deterministic (twice the same result), the output stays within
//     RenderLimits::max_output_bytes and is valid UTF-8.
// Run: scripts/fuzz.sh (FUZZ_TARGETS=jinja_fuzz).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/jinja/internal/py_string.h"
#include "common/jinja/template.h"
#include "nlohmann/json.hpp"

#define JINJA_FUZZ_CHECK(cond)                                                               \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace {

using Json = nlohmann::ordered_json;

constexpr absl::string_view kSeparator = "\n#---\n";

const Json& DefaultContext() {
  static const Json* const ctx = new Json(Json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "id": "c1",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "21C"},
      {"role": "assistant", "content": "<think>ok</think>It is 21C. 你好 😀"},
      {"role": "user", "content": "Thanks!"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "documents": null, "add_generation_prompt": true, "thinking": true,
    "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"
  })"));
  return *ctx;
}

bool AllowedError(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ||
         s.code() == absl::StatusCode::kResourceExhausted;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::string_view source = input;
  Json parsed_ctx;
  const Json* ctx = &DefaultContext();
  size_t sep = input.find(kSeparator);
  if (sep != absl::string_view::npos) {
    source = input.substr(0, sep);
    absl::string_view json_text = input.substr(sep + kSeparator.size());
    parsed_ctx = Json::parse(json_text.begin(), json_text.end(), nullptr,
                             /*allow_exceptions=*/false);
    if (parsed_ctx.is_discarded()) return 0;
    ctx = &parsed_ctx;
  }

  r1::jinja::ParseOptions options;
  options.max_nesting = 32;
  auto t = r1::jinja::Template::Parse(source, options);
  if (!t.ok()) {
    JINJA_FUZZ_CHECK(t.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  r1::jinja::RenderLimits limits;
  limits.max_output_bytes = 1 << 16;
  limits.max_steps = 200000;
  limits.max_call_depth = 8;
  auto a = t->Render(*ctx, limits);
  auto b = t->Render(*ctx, limits);
  JINJA_FUZZ_CHECK(a.ok() == b.ok());
  if (!a.ok()) {
    JINJA_FUZZ_CHECK(AllowedError(a.status()));
    JINJA_FUZZ_CHECK(a.status() == b.status());
    // A context that is not an object is refused before any line runs.
    JINJA_FUZZ_CHECK(!ctx->is_object() ||
                     absl::StartsWith(a.status().message(), "template line ") ||
                     absl::StrContains(a.status().message(), "context"));
    return 0;
  }
  JINJA_FUZZ_CHECK(*a == *b);
  JINJA_FUZZ_CHECK(a->size() <= limits.max_output_bytes);
  JINJA_FUZZ_CHECK(r1::jinja::internal::IsValidUtf8(*a));
  return 0;
}
