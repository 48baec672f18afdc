// The parser's state, shared by parser.cc (statements) and parser_expr.cc (expressions).
// One Parser parses one token list, on one thread.
#ifndef R1_COMMON_JINJA_INTERNAL_PARSER_IMPL_H_
#define R1_COMMON_JINJA_INTERNAL_PARSER_IMPL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/jinja/internal/ast.h"
#include "common/jinja/internal/lexer.h"

namespace r1::jinja::internal {

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, int max_depth)
      : tokens_(tokens), max_depth_(max_depth) {}

  absl::StatusOr<ast::Body> ParseAll();

 private:
  friend class DepthGuard;

  // --- tokens
  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  void Next() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool IsName(absl::string_view name) const {
    return Cur().type == TokenType::kName && Cur().text == name;
  }
  bool IsOp(absl::string_view op) const {
    return Cur().type == TokenType::kOperator && Cur().text == op;
  }
  bool SkipName(absl::string_view name);
  bool SkipOp(absl::string_view op);
  absl::Status ExpectOp(absl::string_view op);
  absl::Status ExpectName(absl::string_view name);
  absl::StatusOr<std::string> ExpectIdentifier();
  absl::Status ExpectBlockEnd();
  absl::Status Unexpected(absl::string_view what) const;
  static std::string Describe(const Token& t);

  // --- depth
  absl::Status Enter();  // one more level of parser recursion
  void Leave() { --depth_; }
  absl::Status CheckDepth(ast::Expr& e, int line);
  ast::ExprPtr MakeExpr(ast::ExprKind kind, int line);

  // --- statements (parser.cc)
  // Parses statements until a block tag named in `end_tags` (the tag's name token is then
  // current) or, with empty `end_tags`, until the end.
  absl::StatusOr<ast::Body> ParseBody(const std::vector<std::string>& end_tags);
  absl::StatusOr<ast::StmtPtr> ParseStatement();
  absl::StatusOr<ast::StmtPtr> ParseIf(int line);
  absl::StatusOr<ast::StmtPtr> ParseFor(int line);
  absl::StatusOr<ast::StmtPtr> ParseSet(int line);
  absl::StatusOr<ast::StmtPtr> ParseMacro(int line);
  absl::StatusOr<ast::StmtPtr> ParseWith(int line);
  absl::StatusOr<ast::Target> ParseTarget(bool allow_namespace);
  // Consumes `{% name %}` where the current token is `name` (the end tag of a block).
  absl::Status EndTag(absl::string_view name);

  // --- expressions (parser_expr.cc)
  // parse_tuple: one expression, or a tuple when commas follow. `with_condexpr` false parses
  // `a if b else c` only inside parentheses (Jinja's rule for if/for headers).
  absl::StatusOr<ast::ExprPtr> ParseTuple(bool with_condexpr, bool explicit_parens,
                                          const std::vector<std::string>& end_names);
  absl::StatusOr<ast::ExprPtr> ParseExpression(bool with_condexpr = true);
  absl::StatusOr<ast::ExprPtr> ParseCondExpr();
  absl::StatusOr<ast::ExprPtr> ParseOr();
  absl::StatusOr<ast::ExprPtr> ParseAnd();
  absl::StatusOr<ast::ExprPtr> ParseNot();
  absl::StatusOr<ast::ExprPtr> ParseCompare();
  absl::StatusOr<ast::ExprPtr> ParseBinary(int level);  // 0: + -, 1: ~, 2: * / // %, 3: **
  absl::StatusOr<ast::ExprPtr> ParseUnary(bool with_filter);
  absl::StatusOr<ast::ExprPtr> ParsePrimary();
  absl::StatusOr<ast::ExprPtr> ParsePostfix(ast::ExprPtr node);
  absl::StatusOr<ast::ExprPtr> ParseFilterExpr(ast::ExprPtr node);
  absl::StatusOr<ast::ExprPtr> ParseSubscript(ast::ExprPtr node);
  absl::StatusOr<ast::ExprPtr> ParseSubscribed();
  absl::StatusOr<ast::ExprPtr> ParseCall(ast::ExprPtr callee, ast::ExprKind kind);
  absl::Status ParseCallArgs(ast::Expr* call);
  absl::StatusOr<std::string> ParseDottedName();

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int max_depth_;
  int depth_ = 0;
  int loop_depth_ = 0;  // enclosing for loops (break/continue are valid inside)
};

// Counts one level of parser recursion for its scope.
class DepthGuard {
 public:
  explicit DepthGuard(Parser* p) : p_(p), status_(p->Enter()) {}
  ~DepthGuard() {
    if (status_.ok()) p_->Leave();
  }
  const absl::Status& status() const { return status_; }

 private:
  Parser* p_;
  absl::Status status_;
};

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_PARSER_IMPL_H_
