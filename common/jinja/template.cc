// Template: parse once, render many times (see template.h).
#include "common/jinja/template.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/jinja/internal/ast.h"
#include "common/jinja/internal/builtins.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/lexer.h"
#include "common/jinja/internal/parser.h"
#include "common/jinja/internal/py_string.h"
#include "common/jinja/internal/renderer.h"
#include "common/jinja/internal/value.h"
#include "common/status_macros.h"

namespace r1::jinja {
namespace internal {

struct ParsedTemplate {
  ast::Body body;
};

namespace {

// Jinja2 refuses unknown filters and tests when it compiles a template, even in branches that
// never run; so do we.
absl::Status CheckNames(const ast::Expr* e) {
  if (e == nullptr) return absl::OkStatus();
  if (e->kind == ast::ExprKind::kFilter && !IsFilter(e->name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kLinePrefix, e->line, ": TemplateAssertionError: No filter named '", e->name, "'."));
  }
  if (e->kind == ast::ExprKind::kTest && !IsTest(e->name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kLinePrefix, e->line, ": TemplateAssertionError: No test named '", e->name, "'."));
  }
  for (const auto& c : e->children) RETURN_IF_ERROR(CheckNames(c.get()));
  for (const auto& [k, c] : e->kwargs) RETURN_IF_ERROR(CheckNames(c.get()));
  return absl::OkStatus();
}

absl::Status CheckNames(const ast::Body& body) {
  for (const auto& s : body) {
    RETURN_IF_ERROR(CheckNames(s->expr.get()));
    RETURN_IF_ERROR(CheckNames(s->filter.get()));
    for (const auto& c : s->conds) RETURN_IF_ERROR(CheckNames(c.get()));
    for (const auto& v : s->with_values) RETURN_IF_ERROR(CheckNames(v.get()));
    for (const auto& b : s->bodies) RETURN_IF_ERROR(CheckNames(b));
    RETURN_IF_ERROR(CheckNames(s->else_body));
    if (s->macro != nullptr) {
      for (const auto& d : s->macro->defaults) RETURN_IF_ERROR(CheckNames(d.get()));
      RETURN_IF_ERROR(CheckNames(s->macro->body));
    }
  }
  return absl::OkStatus();
}

template <typename Json>
absl::StatusOr<std::string> RenderJson(const ParsedTemplate& t, const Json& context,
                                       const RenderLimits& limits) {
  if (!context.is_object()) {
    return absl::InvalidArgumentError("template context must be a JSON object");
  }
  ASSIGN_OR_RETURN(Value vars, ValueFromJson(context));
  Renderer renderer(limits);
  return renderer.Run(t.body, vars.dict());
}

}  // namespace
}  // namespace internal

Template::Template(std::shared_ptr<const internal::ParsedTemplate> parsed)
    : parsed_(std::move(parsed)) {}

absl::StatusOr<Template> Template::Parse(absl::string_view source, const ParseOptions& options) {
  if (source.size() > options.max_source_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "template source is ", source.size(), " bytes; the limit is ", options.max_source_bytes));
  }
  if (!internal::IsValidUtf8(source)) {
    return absl::InvalidArgumentError("template source is not valid UTF-8");
  }
  internal::LexOptions lex;
  lex.trim_blocks = options.trim_blocks;
  lex.lstrip_blocks = options.lstrip_blocks;
  lex.keep_trailing_newline = options.keep_trailing_newline;
  ASSIGN_OR_RETURN(std::vector<internal::Token> tokens, internal::Tokenize(source, lex));
  auto parsed = std::make_shared<internal::ParsedTemplate>();
  ASSIGN_OR_RETURN(parsed->body, internal::ParseTemplate(tokens, options.max_nesting));
  RETURN_IF_ERROR(internal::CheckNames(parsed->body));
  return Template(std::move(parsed));
}

absl::StatusOr<std::string> Template::Render(const nlohmann::ordered_json& context,
                                             const RenderLimits& limits) const {
  return internal::RenderJson(*parsed_, context, limits);
}

absl::StatusOr<std::string> Template::Render(const nlohmann::json& context,
                                             const RenderLimits& limits) const {
  return internal::RenderJson(*parsed_, context, limits);
}

}  // namespace r1::jinja
