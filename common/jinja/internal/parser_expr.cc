// Expression parsing with Jinja2's precedence (see parser.h).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/parser_impl.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {

using ast::ExprKind;
using ast::ExprPtr;

ExprPtr Parser::MakeExpr(ExprKind kind, int line) {
  auto e = std::make_unique<ast::Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

// Sets e's height from its children and refuses trees deeper than max_depth_.
absl::Status Parser::CheckDepth(ast::Expr& e, int line) {
  int h = 0;
  for (const auto& c : e.children) {
    if (c != nullptr && c->depth > h) h = c->depth;
  }
  for (const auto& [name, c] : e.kwargs) {
    if (c->depth > h) h = c->depth;
  }
  e.depth = h + 1;
  if (e.depth > max_depth_) {
    return SyntaxError(line, absl::StrCat("expression nests deeper than ", max_depth_, " levels"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> Parser::ParseTuple(bool with_condexpr, bool explicit_parens,
                                           const std::vector<std::string>& end_names) {
  int line = Cur().line;
  std::vector<ExprPtr> items;
  bool saw_comma = false;
  auto at_end = [&]() {
    const Token& t = Cur();
    if (t.type == TokenType::kVarEnd || t.type == TokenType::kBlockEnd ||
        t.type == TokenType::kEof) {
      return true;
    }
    if (t.type == TokenType::kName) {
      for (const std::string& n : end_names) {
        if (t.text == n) return true;
      }
    }
    return explicit_parens && IsOp(")");
  };
  while (true) {
    if (!items.empty()) {
      if (!SkipOp(",")) break;
      saw_comma = true;
    }
    if (at_end()) break;
    ASSIGN_OR_RETURN(ExprPtr e, ParseExpression(with_condexpr));
    items.push_back(std::move(e));
  }
  if (!saw_comma) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) return Unexpected("an expression");
  }
  ExprPtr t = MakeExpr(ExprKind::kTuple, line);
  t->children = std::move(items);
  RETURN_IF_ERROR(CheckDepth(*t, line));
  return t;
}

absl::StatusOr<ExprPtr> Parser::ParseExpression(bool with_condexpr) {
  DepthGuard guard(this);
  RETURN_IF_ERROR(guard.status());
  if (with_condexpr) return ParseCondExpr();
  return ParseOr();
}

absl::StatusOr<ExprPtr> Parser::ParseCondExpr() {
  int line = Cur().line;
  ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
  while (SkipName("if")) {
    ExprPtr c = MakeExpr(ExprKind::kCondExpr, line);
    ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
    ExprPtr otherwise;
    if (SkipName("else")) {
      DepthGuard guard(this);
      RETURN_IF_ERROR(guard.status());
      ASSIGN_OR_RETURN(otherwise, ParseCondExpr());
    }
    c->children.push_back(std::move(expr));
    c->children.push_back(std::move(test));
    c->children.push_back(std::move(otherwise));
    RETURN_IF_ERROR(CheckDepth(*c, line));
    expr = std::move(c);
  }
  return expr;
}

absl::StatusOr<ExprPtr> Parser::ParseOr() {
  int line = Cur().line;
  ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  if (!IsName("or")) return left;
  ExprPtr e = MakeExpr(ExprKind::kOr, line);
  e->children.push_back(std::move(left));
  while (SkipName("or")) {
    ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
    e->children.push_back(std::move(right));
  }
  RETURN_IF_ERROR(CheckDepth(*e, line));
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseAnd() {
  int line = Cur().line;
  ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  if (!IsName("and")) return left;
  ExprPtr e = MakeExpr(ExprKind::kAnd, line);
  e->children.push_back(std::move(left));
  while (SkipName("and")) {
    ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
    e->children.push_back(std::move(right));
  }
  RETURN_IF_ERROR(CheckDepth(*e, line));
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseNot() {
  if (!IsName("not")) return ParseCompare();
  int line = Cur().line;
  Next();
  DepthGuard guard(this);
  RETURN_IF_ERROR(guard.status());
  ExprPtr e = MakeExpr(ExprKind::kUnary, line);
  e->name = "not";
  ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
  e->children.push_back(std::move(operand));
  RETURN_IF_ERROR(CheckDepth(*e, line));
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseCompare() {
  int line = Cur().line;
  ASSIGN_OR_RETURN(ExprPtr left, ParseBinary(0));
  ExprPtr e;
  while (true) {
    std::string op;
    if (Cur().type == TokenType::kOperator &&
        (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" || Cur().text == "<=" ||
         Cur().text == ">" || Cur().text == ">=")) {
      op = Cur().text;
      Next();
    } else if (SkipName("in")) {
      op = "in";
    } else if (IsName("not") && Look().type == TokenType::kName && Look().text == "in") {
      Next();
      Next();
      op = "notin";
    } else {
      break;
    }
    if (e == nullptr) {
      e = MakeExpr(ExprKind::kCompare, line);
      e->children.push_back(std::move(left));
    }
    ASSIGN_OR_RETURN(ExprPtr right, ParseBinary(0));
    e->ops.push_back(std::move(op));
    e->children.push_back(std::move(right));
  }
  if (e == nullptr) return left;
  RETURN_IF_ERROR(CheckDepth(*e, line));
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseBinary(int level) {
  static const std::vector<std::vector<std::string>> kOps = {
      {"+", "-"}, {"~"}, {"*", "/", "//", "%"}, {"**"}};
  auto next_level = [&]() -> absl::StatusOr<ExprPtr> {
    if (level == 3) return ParseUnary(true);
    return ParseBinary(level + 1);
  };
  auto match = [&]() -> const std::string* {
    if (Cur().type != TokenType::kOperator) return nullptr;
    for (const std::string& op : kOps[level]) {
      if (Cur().text == op) return &op;
    }
    return nullptr;
  };
  int line = Cur().line;
  ASSIGN_OR_RETURN(ExprPtr left, next_level());
  if (match() == nullptr) return left;
  ExprPtr e = MakeExpr(ExprKind::kBinary, line);
  e->children.push_back(std::move(left));
  while (const std::string* op = match()) {
    e->ops.push_back(*op);
    Next();
    ASSIGN_OR_RETURN(ExprPtr right, next_level());
    e->children.push_back(std::move(right));
  }
  RETURN_IF_ERROR(CheckDepth(*e, line));
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseUnary(bool with_filter) {
  int line = Cur().line;
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    DepthGuard guard(this);
    RETURN_IF_ERROR(guard.status());
    node = MakeExpr(ExprKind::kUnary, line);
    node->name = Cur().text;
    Next();
    ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
    node->children.push_back(std::move(operand));
    RETURN_IF_ERROR(CheckDepth(*node, line));
  } else {
    ASSIGN_OR_RETURN(node, ParsePrimary());
  }
  ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) {
    ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
  }
  return node;
}

absl::StatusOr<ExprPtr> Parser::ParsePrimary() {
  const Token& t = Cur();
  int line = t.line;
  ExprPtr e;
  switch (t.type) {
    case TokenType::kName: {
      e = MakeExpr(ExprKind::kLiteral, line);
      if (t.text == "true" || t.text == "True") {
        e->literal = Value::Bool(true);
      } else if (t.text == "false" || t.text == "False") {
        e->literal = Value::Bool(false);
      } else if (t.text == "none" || t.text == "None") {
        e->literal = Value::None();
      } else {
        e->kind = ExprKind::kName;
        e->name = t.text;
      }
      Next();
      return e;
    }
    case TokenType::kString: {
      std::string s = t.text;
      Next();
      while (Cur().type == TokenType::kString) {
        s += Cur().text;
        Next();
      }
      e = MakeExpr(ExprKind::kLiteral, line);
      e->literal = Value::String(std::move(s));
      return e;
    }
    case TokenType::kInt:
      e = MakeExpr(ExprKind::kLiteral, line);
      e->literal = Value::Int(t.int_value);
      Next();
      return e;
    case TokenType::kFloat:
      e = MakeExpr(ExprKind::kLiteral, line);
      e->literal = Value::Float(t.float_value);
      Next();
      return e;
    default:
      break;
  }
  DepthGuard guard(this);
  RETURN_IF_ERROR(guard.status());
  if (SkipOp("(")) {
    ASSIGN_OR_RETURN(e, ParseTuple(true, true, {}));
    RETURN_IF_ERROR(ExpectOp(")"));
    return e;
  }
  if (SkipOp("[")) {
    e = MakeExpr(ExprKind::kList, line);
    while (!IsOp("]")) {
      if (!e->children.empty()) RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp("]")) break;
      ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
      e->children.push_back(std::move(item));
    }
    RETURN_IF_ERROR(ExpectOp("]"));
    RETURN_IF_ERROR(CheckDepth(*e, line));
    return e;
  }
  if (SkipOp("{")) {
    e = MakeExpr(ExprKind::kDict, line);
    while (!IsOp("}")) {
      if (!e->children.empty()) RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp("}")) break;
      ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
      RETURN_IF_ERROR(ExpectOp(":"));
      ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      e->children.push_back(std::move(key));
      e->children.push_back(std::move(value));
    }
    RETURN_IF_ERROR(ExpectOp("}"));
    RETURN_IF_ERROR(CheckDepth(*e, line));
    return e;
  }
  return SyntaxError(line, absl::StrCat("unexpected ", Describe(t)));
}

absl::StatusOr<ExprPtr> Parser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (IsOp(".") || IsOp("[")) {
      ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
    } else if (IsOp("(")) {
      ASSIGN_OR_RETURN(node, ParseCall(std::move(node), ExprKind::kCall));
    } else {
      return node;
    }
  }
}

absl::StatusOr<std::string> Parser::ParseDottedName() {
  ASSIGN_OR_RETURN(std::string name, ExpectIdentifier());
  while (IsOp(".")) {
    Next();
    ASSIGN_OR_RETURN(std::string part, ExpectIdentifier());
    absl::StrAppend(&name, ".", part);
  }
  return name;
}

absl::StatusOr<ExprPtr> Parser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    int line = Cur().line;
    if (SkipOp("|")) {
      ExprPtr f = MakeExpr(ExprKind::kFilter, line);
      ASSIGN_OR_RETURN(f->name, ParseDottedName());
      f->children.push_back(std::move(node));
      if (IsOp("(")) RETURN_IF_ERROR(ParseCallArgs(f.get()));
      RETURN_IF_ERROR(CheckDepth(*f, line));
      node = std::move(f);
    } else if (SkipName("is")) {
      ExprPtr t = MakeExpr(ExprKind::kTest, line);
      t->negated = SkipName("not");
      ASSIGN_OR_RETURN(t->name, ParseDottedName());
      t->children.push_back(std::move(node));
      const Token& c = Cur();
      if (IsOp("(")) {
        RETURN_IF_ERROR(ParseCallArgs(t.get()));
      } else if ((c.type == TokenType::kName || c.type == TokenType::kString ||
                  c.type == TokenType::kInt || c.type == TokenType::kFloat || IsOp("[") ||
                  IsOp("{")) &&
                 !IsName("else") && !IsName("or") && !IsName("and")) {
        if (IsName("is")) return SyntaxError(c.line, "You cannot chain multiple tests with is");
        ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
        ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
        t->children.push_back(std::move(arg));
      }
      RETURN_IF_ERROR(CheckDepth(*t, line));
      node = std::move(t);
    } else if (IsOp("(")) {
      ASSIGN_OR_RETURN(node, ParseCall(std::move(node), ExprKind::kCall));
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> Parser::ParseSubscript(ExprPtr node) {
  int line = Cur().line;
  if (SkipOp(".")) {
    if (Cur().type == TokenType::kName) {
      ExprPtr e = MakeExpr(ExprKind::kGetAttr, line);
      e->name = Cur().text;
      Next();
      e->children.push_back(std::move(node));
      RETURN_IF_ERROR(CheckDepth(*e, line));
      return e;
    }
    if (Cur().type != TokenType::kInt) return Unexpected("a name or number");
    ExprPtr key = MakeExpr(ExprKind::kLiteral, line);
    key->literal = Value::Int(Cur().int_value);
    Next();
    ExprPtr e = MakeExpr(ExprKind::kGetItem, line);
    e->children.push_back(std::move(node));
    e->children.push_back(std::move(key));
    RETURN_IF_ERROR(CheckDepth(*e, line));
    return e;
  }
  Next();  // [
  std::vector<ExprPtr> args;
  while (!IsOp("]")) {
    if (!args.empty()) RETURN_IF_ERROR(ExpectOp(","));
    ASSIGN_OR_RETURN(ExprPtr a, ParseSubscribed());
    args.push_back(std::move(a));
  }
  RETURN_IF_ERROR(ExpectOp("]"));
  if (args.empty()) return SyntaxError(line, "expected a subscript");
  if (args.size() > 1) {
    for (const auto& a : args) {
      if (a->kind == ExprKind::kSlice)
        return SyntaxError(line, "slices inside tuples are not supported");
    }
  }
  ExprPtr e;
  if (args.size() == 1 && args[0]->kind == ExprKind::kSlice) {
    e = std::move(args[0]);
    e->children[0] = std::move(node);
  } else {
    e = MakeExpr(ExprKind::kGetItem, line);
    e->children.push_back(std::move(node));
    if (args.size() == 1) {
      e->children.push_back(std::move(args[0]));
    } else {
      ExprPtr tuple = MakeExpr(ExprKind::kTuple, line);
      tuple->children = std::move(args);
      RETURN_IF_ERROR(CheckDepth(*tuple, line));
      e->children.push_back(std::move(tuple));
    }
  }
  RETURN_IF_ERROR(CheckDepth(*e, line));
  return e;
}

// One subscript: an expression or a slice `[a]:[b][:[c]]` (returned as a kSlice whose first
// child is a placeholder for the sliced object).
absl::StatusOr<ExprPtr> Parser::ParseSubscribed() {
  int line = Cur().line;
  std::vector<ExprPtr> bounds;
  if (SkipOp(":")) {
    bounds.push_back(nullptr);
  } else {
    ASSIGN_OR_RETURN(ExprPtr first, ParseExpression());
    if (!SkipOp(":")) return first;
    bounds.push_back(std::move(first));
  }
  auto bound_ends = [&]() { return IsOp("]") || IsOp(",") || IsOp(":"); };
  if (bound_ends()) {
    bounds.push_back(nullptr);
  } else {
    ASSIGN_OR_RETURN(ExprPtr stop, ParseExpression());
    bounds.push_back(std::move(stop));
  }
  if (SkipOp(":") && !(IsOp("]") || IsOp(","))) {
    ASSIGN_OR_RETURN(ExprPtr step, ParseExpression());
    bounds.push_back(std::move(step));
  } else {
    bounds.push_back(nullptr);
  }
  ExprPtr e = MakeExpr(ExprKind::kSlice, line);
  e->children.push_back(nullptr);
  for (auto& b : bounds) e->children.push_back(std::move(b));
  RETURN_IF_ERROR(CheckDepth(*e, line));
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseCall(ExprPtr callee, ExprKind kind) {
  int line = Cur().line;
  ExprPtr e = MakeExpr(kind, line);
  e->children.push_back(std::move(callee));
  RETURN_IF_ERROR(ParseCallArgs(e.get()));
  RETURN_IF_ERROR(CheckDepth(*e, line));
  return e;
}

absl::Status Parser::ParseCallArgs(ast::Expr* call) {
  RETURN_IF_ERROR(ExpectOp("("));
  bool first = true;
  while (!IsOp(")")) {
    if (!first) RETURN_IF_ERROR(ExpectOp(","));
    first = false;
    if (IsOp(")")) break;
    if (IsOp("*") || IsOp("**")) {
      return SyntaxError(Cur().line, "*args and **kwargs in calls are not supported");
    }
    if (Cur().type == TokenType::kName && Look().type == TokenType::kOperator &&
        Look().text == "=") {
      std::string key = Cur().text;
      Next();
      Next();
      ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      call->kwargs.emplace_back(std::move(key), std::move(value));
    } else {
      if (!call->kwargs.empty()) {
        return SyntaxError(Cur().line, "positional argument follows keyword argument");
      }
      ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      call->children.push_back(std::move(value));
    }
  }
  return ExpectOp(")");
}

}  // namespace r1::jinja::internal
