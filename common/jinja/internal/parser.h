// Builds the AST from tokens with Jinja2's grammar and operator precedence (condexpr < or < and
// < not < comparisons < + - < ~ < * / // % < ** < unary - + < postfix . [] () and | filters,
// `is` tests). Unsupported constructs (extends, include, import, call, filter blocks, recursive
// loops, *args) are syntax errors naming the line. Nesting is bounded: a template whose AST
// would be deeper than `max_depth` is refused, so rendering never recurses without bound.
// Stateless; thread-safe.
#ifndef R1_COMMON_JINJA_INTERNAL_PARSER_H_
#define R1_COMMON_JINJA_INTERNAL_PARSER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/jinja/internal/ast.h"
#include "common/jinja/internal/lexer.h"

namespace r1::jinja::internal {

absl::StatusOr<ast::Body> ParseTemplate(const std::vector<Token>& tokens, int max_depth);

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_PARSER_H_
