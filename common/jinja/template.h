// A sandboxed Jinja2 interpreter for Hugging Face chat templates.
//
//   ASSIGN_OR_RETURN(r1::jinja::Template t, r1::jinja::Template::Parse(source));
//   ASSIGN_OR_RETURN(std::string prompt, t.Render(context));   // any number of times
//
// Parse() builds the AST once, with the environment transformers uses for chat templates
// (jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True), the
// loopcontrols extension, transformers' `tojson` filter and `raise_exception` global).
// Render() evaluates it against a JSON object of variables (messages, tools,
// add_generation_prompt, bos_token, ... — see chat_context.h) and produces exactly the text
// Python's jinja2 produces, byte for byte, for the constructs listed in README.md.
//
// Sandboxed and bounded: templates cannot reach anything but their variables; lists, dicts and
// strings from the context cannot be modified; output size, evaluation steps and macro
// recursion are limited (RenderLimits), and template nesting is limited at parse time
// (ParseOptions::max_nesting), so a hostile template or input ends in a Status, never a crash
// or a hang. Every error names the template line ("template line 7: TypeError: ...").
// Template and data errors (including raise_exception) are InvalidArgument; exceeded limits are
// ResourceExhausted.
//
// A Template is immutable after Parse(); Render() may be called from many threads at once.
// Copies share the parsed AST.
#ifndef R1_COMMON_JINJA_TEMPLATE_H_
#define R1_COMMON_JINJA_TEMPLATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace r1::jinja {

namespace internal {
struct ParsedTemplate;
}  // namespace internal

struct ParseOptions {
  // transformers' settings; change only to render templates written for other environments.
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
  size_t max_source_bytes = 1 << 20;
  // Deepest nesting of statements and of expressions (each counted separately).
  int max_nesting = 64;
};

struct RenderLimits {
  size_t max_output_bytes = 8 << 20;  // also bounds every string or list a template builds
  int64_t max_steps = 5'000'000;      // statements, expressions, loop iterations, items handled
  int max_call_depth = 16;            // nested macro calls
};

class Template {
 public:
  // Parses `source` (UTF-8). Errors: InvalidArgument naming the line (syntax, unknown filters
  // or tests, unsupported tags), or when the source exceeds options.max_source_bytes.
  static absl::StatusOr<Template> Parse(absl::string_view source, const ParseOptions& options = {});

  // Renders with the variables of `context` (a JSON object). With ordered_json, dict key order
  // (what `tojson` and `items` show) is the input's order, as in Python; with nlohmann::json
  // keys come sorted.
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& context,
                                     const RenderLimits& limits = {}) const;
  absl::StatusOr<std::string> Render(const nlohmann::json& context,
                                     const RenderLimits& limits = {}) const;

 private:
  explicit Template(std::shared_ptr<const internal::ParsedTemplate> parsed);

  std::shared_ptr<const internal::ParsedTemplate> parsed_;
};

}  // namespace r1::jinja

#endif  // R1_COMMON_JINJA_TEMPLATE_H_
