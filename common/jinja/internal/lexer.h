// Splits a template into tokens exactly as Jinja2's lexer does under the options Hugging Face
// transformers uses: newlines normalized to "\n", one trailing newline dropped
// (keep_trailing_newline=False), whitespace control with `{%-`/`-%}`/`{{-`/`-}}`/`{#-`/`-#}`,
// `{%+`/`+%}` to opt out, trim_blocks (the first newline after a block or comment tag is
// removed), lstrip_blocks (spaces and tabs before a block or comment tag at the start of a line
// are removed), comments dropped, {% raw %} kept verbatim. Stateless; thread-safe.
#ifndef R1_COMMON_JINJA_INTERNAL_LEXER_H_
#define R1_COMMON_JINJA_INTERNAL_LEXER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace r1::jinja::internal {

enum class TokenType : uint8_t {
  kText,        // template data; `text` holds it
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifiers and keywords
  kString,      // `text` holds the unescaped value
  kInt,         // `int_value`
  kFloat,       // `float_value`
  kOperator,    // `text` holds it: + - * / // % ** ~ == != < <= > >= = . , : | ( ) [ ] { } ;
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  int line = 1;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0.0;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Tokens of `source` (valid UTF-8), ending with kEof. Errors (InvalidArgument) name the line:
// "template line 3: TemplateSyntaxError: unexpected end of template ...".
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source, const LexOptions& options);

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_LEXER_H_
