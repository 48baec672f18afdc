// Statement parsing (see parser.h); expressions are in parser_expr.cc.
#include "common/jinja/internal/parser.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/parser_impl.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {

using ast::Body;
using ast::StmtKind;
using ast::StmtPtr;

bool Parser::SkipName(absl::string_view name) {
  if (!IsName(name)) return false;
  Next();
  return true;
}

bool Parser::SkipOp(absl::string_view op) {
  if (!IsOp(op)) return false;
  Next();
  return true;
}

std::string Parser::Describe(const Token& t) {
  switch (t.type) {
    case TokenType::kText:
      return "template data";
    case TokenType::kVarBegin:
      return "'{{'";
    case TokenType::kVarEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "'{%'";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kName:
    case TokenType::kOperator:
      return absl::StrCat("'", t.text, "'");
    case TokenType::kString:
      return "string";
    case TokenType::kInt:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kEof:
      return "end of template";
  }
  return "token";
}

absl::Status Parser::Unexpected(absl::string_view what) const {
  return SyntaxError(Cur().line, absl::StrCat("expected ", what, ", got ", Describe(Cur())));
}

absl::Status Parser::ExpectOp(absl::string_view op) {
  if (!SkipOp(op)) return Unexpected(absl::StrCat("'", op, "'"));
  return absl::OkStatus();
}

absl::Status Parser::ExpectName(absl::string_view name) {
  if (!SkipName(name)) return Unexpected(absl::StrCat("'", name, "'"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> Parser::ExpectIdentifier() {
  if (Cur().type != TokenType::kName) return Unexpected("a name");
  std::string name = Cur().text;
  Next();
  return name;
}

absl::Status Parser::ExpectBlockEnd() {
  if (Cur().type != TokenType::kBlockEnd) return Unexpected("end of statement block");
  Next();
  return absl::OkStatus();
}

absl::Status Parser::Enter() {
  if (depth_ >= max_depth_) {
    return SyntaxError(Cur().line,
                       absl::StrCat("template nests deeper than ", max_depth_, " levels"));
  }
  ++depth_;
  return absl::OkStatus();
}

absl::StatusOr<Body> Parser::ParseAll() {
  ASSIGN_OR_RETURN(Body body, ParseBody({}));
  return body;
}

absl::StatusOr<Body> Parser::ParseBody(const std::vector<std::string>& end_tags) {
  Body body;
  while (true) {
    const Token& t = Cur();
    switch (t.type) {
      case TokenType::kEof:
        if (!end_tags.empty()) {
          return SyntaxError(t.line, absl::StrCat("unexpected end of template; looking for '",
                                                  absl::StrJoin(end_tags, "' or '"), "'"));
        }
        return body;
      case TokenType::kText: {
        auto s = std::make_unique<ast::Stmt>();
        s->kind = StmtKind::kText;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        Next();
        break;
      }
      case TokenType::kVarBegin: {
        int line = t.line;
        Next();
        auto s = std::make_unique<ast::Stmt>();
        s->kind = StmtKind::kOutput;
        s->line = line;
        ASSIGN_OR_RETURN(s->expr, ParseTuple(true, false, {}));
        if (Cur().type != TokenType::kVarEnd) return Unexpected("end of print statement");
        Next();
        body.push_back(std::move(s));
        break;
      }
      case TokenType::kBlockBegin: {
        Next();
        if (Cur().type == TokenType::kName) {
          for (const std::string& end : end_tags) {
            if (Cur().text == end) return body;
          }
        }
        ASSIGN_OR_RETURN(StmtPtr s, ParseStatement());
        body.push_back(std::move(s));
        break;
      }
      default:
        return SyntaxError(t.line, absl::StrCat("unexpected ", Describe(t)));
    }
  }
}

absl::StatusOr<StmtPtr> Parser::ParseStatement() {
  DepthGuard guard(this);
  RETURN_IF_ERROR(guard.status());
  const Token& t = Cur();
  if (t.type != TokenType::kName) return SyntaxError(t.line, "tag name expected");
  int line = t.line;
  const std::string& tag = t.text;
  if (tag == "if") return ParseIf(line);
  if (tag == "for") return ParseFor(line);
  if (tag == "set") return ParseSet(line);
  if (tag == "macro") return ParseMacro(line);
  if (tag == "with") return ParseWith(line);
  auto s = std::make_unique<ast::Stmt>();
  s->line = line;
  if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) return SyntaxError(line, absl::StrCat("'", tag, "' outside a loop"));
    s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    Next();
    RETURN_IF_ERROR(ExpectBlockEnd());
    return s;
  }
  if (tag == "generation") {
    s->kind = StmtKind::kBlock;
    Next();
    RETURN_IF_ERROR(ExpectBlockEnd());
    ASSIGN_OR_RETURN(Body body, ParseBody({"endgeneration"}));
    s->bodies.push_back(std::move(body));
    RETURN_IF_ERROR(EndTag("endgeneration"));
    return s;
  }
  static constexpr absl::string_view kUnsupported[] = {"extends", "include", "import",     "from",
                                                       "block",   "call",    "filter",     "raw",
                                                       "do",      "trans",   "autoescape", "print"};
  for (absl::string_view u : kUnsupported) {
    if (tag == u) return SyntaxError(line, absl::StrCat("the '", tag, "' tag is not supported"));
  }
  return SyntaxError(line, absl::StrCat("Encountered unknown tag '", tag, "'"));
}

absl::Status Parser::EndTag(absl::string_view name) {
  RETURN_IF_ERROR(ExpectName(name));
  return ExpectBlockEnd();
}

absl::StatusOr<StmtPtr> Parser::ParseIf(int line) {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kIf;
  s->line = line;
  Next();  // if
  while (true) {
    ASSIGN_OR_RETURN(ast::ExprPtr cond, ParseTuple(false, false, {}));
    RETURN_IF_ERROR(ExpectBlockEnd());
    ASSIGN_OR_RETURN(Body body, ParseBody({"elif", "else", "endif"}));
    s->conds.push_back(std::move(cond));
    s->bodies.push_back(std::move(body));
    if (SkipName("elif")) continue;
    if (SkipName("else")) {
      RETURN_IF_ERROR(ExpectBlockEnd());
      ASSIGN_OR_RETURN(s->else_body, ParseBody({"endif"}));
    }
    RETURN_IF_ERROR(EndTag("endif"));
    return s;
  }
}

absl::StatusOr<ast::Target> Parser::ParseTarget(bool allow_namespace) {
  ast::Target target;
  auto check = [&](const std::string& name, int line) -> absl::Status {
    static constexpr absl::string_view kConst[] = {"true", "false", "none",
                                                   "True", "False", "None"};
    for (absl::string_view c : kConst) {
      if (name == c) return SyntaxError(line, absl::StrCat("can't assign to '", name, "'"));
    }
    return absl::OkStatus();
  };
  int line = Cur().line;
  if (allow_namespace && Cur().type == TokenType::kName && Look().type == TokenType::kOperator &&
      Look().text == ".") {
    ASSIGN_OR_RETURN(std::string ns, ExpectIdentifier());
    Next();  // .
    ASSIGN_OR_RETURN(target.ns_attr, ExpectIdentifier());
    target.names.push_back(std::move(ns));
    return target;
  }
  bool parens = SkipOp("(");
  while (true) {
    ASSIGN_OR_RETURN(std::string name, ExpectIdentifier());
    RETURN_IF_ERROR(check(name, line));
    target.names.push_back(std::move(name));
    if (!SkipOp(",")) break;
    target.unpack = true;
    if (Cur().type != TokenType::kName || IsName("in")) break;  // trailing comma
  }
  if (parens) {
    target.unpack = true;
    RETURN_IF_ERROR(ExpectOp(")"));
  }
  return target;
}

namespace {

bool Mentions(const ast::Expr* e, absl::string_view name) {
  if (e == nullptr) return false;
  if (e->kind == ast::ExprKind::kName && e->name == name) return true;
  for (const auto& c : e->children) {
    if (Mentions(c.get(), name)) return true;
  }
  for (const auto& [k, c] : e->kwargs) {
    if (Mentions(c.get(), name)) return true;
  }
  return false;
}

bool Mentions(const Body& body, absl::string_view name) {
  for (const auto& s : body) {
    if (Mentions(s->expr.get(), name) || Mentions(s->filter.get(), name)) return true;
    for (const auto& c : s->conds) {
      if (Mentions(c.get(), name)) return true;
    }
    for (const auto& v : s->with_values) {
      if (Mentions(v.get(), name)) return true;
    }
    for (const auto& b : s->bodies) {
      if (Mentions(b, name)) return true;
    }
    if (Mentions(s->else_body, name)) return true;
    if (s->macro != nullptr) {
      for (const auto& d : s->macro->defaults) {
        if (Mentions(d.get(), name)) return true;
      }
      if (Mentions(s->macro->body, name)) return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<StmtPtr> Parser::ParseFor(int line) {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kFor;
  s->line = line;
  Next();  // for
  ASSIGN_OR_RETURN(s->target, ParseTarget(false));
  RETURN_IF_ERROR(ExpectName("in"));
  ASSIGN_OR_RETURN(s->expr, ParseTuple(false, false, {"recursive"}));
  if (SkipName("if")) {
    ASSIGN_OR_RETURN(s->filter, ParseExpression());
  }
  if (IsName("recursive")) return SyntaxError(Cur().line, "recursive loops are not supported");
  RETURN_IF_ERROR(ExpectBlockEnd());
  ++loop_depth_;
  auto body = ParseBody({"endfor", "else"});
  --loop_depth_;
  if (!body.ok()) return body.status();
  s->bodies.push_back(*std::move(body));
  s->uses_loop = Mentions(s->bodies[0], "loop");
  if (SkipName("else")) {
    RETURN_IF_ERROR(ExpectBlockEnd());
    ASSIGN_OR_RETURN(s->else_body, ParseBody({"endfor"}));
  }
  RETURN_IF_ERROR(EndTag("endfor"));
  return s;
}

absl::StatusOr<StmtPtr> Parser::ParseSet(int line) {
  auto s = std::make_unique<ast::Stmt>();
  s->line = line;
  Next();  // set
  ASSIGN_OR_RETURN(s->target, ParseTarget(true));
  if (SkipOp("=")) {
    s->kind = StmtKind::kSet;
    ASSIGN_OR_RETURN(s->expr, ParseTuple(true, false, {}));
    RETURN_IF_ERROR(ExpectBlockEnd());
    return s;
  }
  if (s->target.unpack) return Unexpected("'='");
  if (IsOp("|")) return SyntaxError(Cur().line, "filters on block assignments are not supported");
  s->kind = StmtKind::kSetBlock;
  RETURN_IF_ERROR(ExpectBlockEnd());
  ASSIGN_OR_RETURN(Body body, ParseBody({"endset"}));
  s->bodies.push_back(std::move(body));
  RETURN_IF_ERROR(EndTag("endset"));
  return s;
}

absl::StatusOr<StmtPtr> Parser::ParseMacro(int line) {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kMacro;
  s->line = line;
  s->macro = std::make_unique<ast::Macro>();
  ast::Macro& m = *s->macro;
  m.line = line;
  Next();  // macro
  ASSIGN_OR_RETURN(m.name, ExpectIdentifier());
  RETURN_IF_ERROR(ExpectOp("("));
  while (!IsOp(")")) {
    if (!m.params.empty()) RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp(")")) break;
    ASSIGN_OR_RETURN(std::string param, ExpectIdentifier());
    m.params.push_back(std::move(param));
    if (SkipOp("=")) {
      ASSIGN_OR_RETURN(ast::ExprPtr def, ParseExpression());
      m.defaults.push_back(std::move(def));
    } else {
      if (!m.defaults.empty() && m.defaults.back() != nullptr) {
        return SyntaxError(Cur().line, "non-default argument follows default argument");
      }
      m.defaults.push_back(nullptr);
    }
  }
  RETURN_IF_ERROR(ExpectOp(")"));
  RETURN_IF_ERROR(ExpectBlockEnd());
  int saved_loops = loop_depth_;
  loop_depth_ = 0;
  auto body = ParseBody({"endmacro"});
  loop_depth_ = saved_loops;
  if (!body.ok()) return body.status();
  m.body = *std::move(body);
  RETURN_IF_ERROR(EndTag("endmacro"));
  return s;
}

absl::StatusOr<StmtPtr> Parser::ParseWith(int line) {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kWith;
  s->line = line;
  Next();  // with
  while (Cur().type != TokenType::kBlockEnd) {
    if (!s->with_targets.empty()) RETURN_IF_ERROR(ExpectOp(","));
    ASSIGN_OR_RETURN(ast::Target target, ParseTarget(false));
    RETURN_IF_ERROR(ExpectOp("="));
    ASSIGN_OR_RETURN(ast::ExprPtr value, ParseExpression());
    s->with_targets.push_back(std::move(target));
    s->with_values.push_back(std::move(value));
  }
  RETURN_IF_ERROR(ExpectBlockEnd());
  ASSIGN_OR_RETURN(Body body, ParseBody({"endwith"}));
  s->bodies.push_back(std::move(body));
  RETURN_IF_ERROR(EndTag("endwith"));
  return s;
}

absl::StatusOr<ast::Body> ParseTemplate(const std::vector<Token>& tokens, int max_depth) {
  Parser parser(tokens, max_depth);
  return parser.ParseAll();
}

}  // namespace r1::jinja::internal
