// Expression evaluation (see renderer.h).
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/jinja/internal/builtins.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/renderer.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {

using ast::ExprKind;

Value Renderer::Lookup(const std::string& name, const Frame* f) const {
  for (; f != nullptr; f = f->parent) {
    auto it = f->vars.find(name);
    if (it != f->vars.end()) return it->second;
  }
  if (IsGlobalFunction(name)) {
    Callable c;
    c.type = Callable::Type::kBuiltin;
    c.name = name;
    return Value::FromCallable(std::move(c));
  }
  return Value::Undefined(absl::StrCat("UndefinedError: '", name, "' is undefined"));
}

absl::StatusOr<Value> Renderer::Eval(const ast::Expr& e, Frame* f) {
  auto v = EvalInner(e, f);
  if (!v.ok()) return AtLine(e.line, v.status());
  return v;
}

absl::StatusOr<CallArgs> Renderer::EvalArgs(const ast::Expr& e, Frame* f) {
  CallArgs args;
  for (size_t i = 1; i < e.children.size(); ++i) {
    ASSIGN_OR_RETURN(Value v, Eval(*e.children[i], f));
    args.args.push_back(std::move(v));
  }
  for (const auto& [key, expr] : e.kwargs) {
    ASSIGN_OR_RETURN(Value v, Eval(*expr, f));
    args.kwargs.emplace_back(key, std::move(v));
  }
  return args;
}

absl::StatusOr<bool> Renderer::Test(const std::string& name, const Value& v, const CallArgs& args) {
  return ApplyTest(*this, name, v, args);
}

absl::StatusOr<Value> Renderer::Filter(const std::string& name, const Value& v, CallArgs args) {
  return ApplyFilter(*this, name, v, args);
}

absl::StatusOr<Value> Renderer::Call(const Value& callee, CallArgs args) {
  if (callee.is_undefined()) return UndefinedError(callee);
  if (callee.kind() != Value::Kind::kCallable) {
    return TypeError(absl::StrCat("'", callee.TypeName(), "' object is not callable"));
  }
  const Callable& c = callee.callable();
  switch (c.type) {
    case Callable::Type::kMethod:
      return CallMethod(*this, c.self, c.name, args);
    case Callable::Type::kBuiltin:
      return CallGlobal(*this, c.name, args);
    case Callable::Type::kMacro:
      return CallMacro(c, std::move(args));
    case Callable::Type::kLoopCycle:
      if (args.args.empty()) return TypeError("no items for cycling given");
      return args.args[c.self.as_int() % static_cast<int64_t>(args.args.size())];
  }
  return TypeError("object is not callable");
}

absl::StatusOr<Value> Renderer::EvalInner(const ast::Expr& e, Frame* f) {
  RETURN_IF_ERROR(Step());
  switch (e.kind) {
    case ExprKind::kLiteral:
      return e.literal;
    case ExprKind::kName:
      return Lookup(e.name, f);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      ValueList items;
      items.reserve(e.children.size());
      for (const auto& c : e.children) {
        ASSIGN_OR_RETURN(Value v, Eval(*c, f));
        items.push_back(std::move(v));
      }
      if (e.kind == ExprKind::kTuple) return Value::Tuple(std::move(items));
      return Value::List(std::move(items));
    }
    case ExprKind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
        ASSIGN_OR_RETURN(Value k, Eval(*e.children[i], f));
        ASSIGN_OR_RETURN(Value v, Eval(*e.children[i + 1], f));
        if (!d.SetTyped(k, std::move(v))) {
          return TypeError(absl::StrCat("unhashable type: '", k.TypeName(), "'"));
        }
      }
      return Value::FromDict(std::move(d));
    }
    case ExprKind::kGetAttr: {
      ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], f));
      return GetAttr(obj, e.name);
    }
    case ExprKind::kGetItem: {
      ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], f));
      ASSIGN_OR_RETURN(Value key, Eval(*e.children[1], f));
      return GetItem(obj, key);
    }
    case ExprKind::kSlice: {
      ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], f));
      Value bounds[3];
      const Value* ptrs[3] = {nullptr, nullptr, nullptr};
      for (int i = 0; i < 3; ++i) {
        if (e.children[i + 1] == nullptr) continue;
        ASSIGN_OR_RETURN(bounds[i], Eval(*e.children[i + 1], f));
        ptrs[i] = &bounds[i];
      }
      return SliceOp(obj, ptrs[0], ptrs[1], ptrs[2]);
    }
    case ExprKind::kCall: {
      ASSIGN_OR_RETURN(Value callee, Eval(*e.children[0], f));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, f));
      return Call(callee, std::move(args));
    }
    case ExprKind::kFilter: {
      ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], f));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, f));
      return ApplyFilter(*this, e.name, v, args);
    }
    case ExprKind::kTest: {
      ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], f));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, f));
      ASSIGN_OR_RETURN(bool r, ApplyTest(*this, e.name, v, args));
      return Value::Bool(r != e.negated);
    }
    case ExprKind::kUnary: {
      ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], f));
      return UnaryOp(e.name, v);
    }
    case ExprKind::kBinary: {
      ASSIGN_OR_RETURN(Value acc, Eval(*e.children[0], f));
      for (size_t i = 0; i < e.ops.size(); ++i) {
        ASSIGN_OR_RETURN(Value rhs, Eval(*e.children[i + 1], f));
        ASSIGN_OR_RETURN(acc, BinaryOp(e.ops[i], acc, rhs, max_bytes()));
      }
      return acc;
    }
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      bool is_and = e.kind == ExprKind::kAnd;
      ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], f));
      for (size_t i = 1; i < e.children.size(); ++i) {
        if (v.Truthy() != is_and) return v;
        ASSIGN_OR_RETURN(v, Eval(*e.children[i], f));
      }
      return v;
    }
    case ExprKind::kCompare: {
      ASSIGN_OR_RETURN(Value left, Eval(*e.children[0], f));
      for (size_t i = 0; i < e.ops.size(); ++i) {
        ASSIGN_OR_RETURN(Value right, Eval(*e.children[i + 1], f));
        ASSIGN_OR_RETURN(bool r, CompareOp(e.ops[i], left, right));
        if (!r) return Value::Bool(false);
        left = std::move(right);
      }
      return Value::Bool(true);
    }
    case ExprKind::kCondExpr: {
      ASSIGN_OR_RETURN(Value test, Eval(*e.children[1], f));
      if (test.Truthy()) return Eval(*e.children[0], f);
      if (e.children[2] != nullptr) return Eval(*e.children[2], f);
      return Value::Undefined(absl::StrCat("UndefinedError: the inline if-expression on line ",
                                           e.line,
                                           " evaluated to false and no else section was "
                                           "defined."));
    }
  }
  return absl::InternalError("unknown expression");
}

}  // namespace r1::jinja::internal
