// The parsed template: statements and expressions. Built once by the parser, then only read
// (concurrent renders share it). Every node carries its template line for error messages.
#ifndef R1_COMMON_JINJA_INTERNAL_AST_H_
#define R1_COMMON_JINJA_INTERNAL_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/jinja/internal/value.h"

namespace r1::jinja::internal::ast {

enum class ExprKind : uint8_t {
  kLiteral,   // literal
  kName,      // name
  kList,      // children: items
  kTuple,     // children: items
  kDict,      // children: key0, value0, key1, value1, ...
  kGetAttr,   // children[0].name
  kGetItem,   // children[0][children[1]]
  kSlice,     // children[0][children[1]:children[2]:children[3]] (each bound may be null)
  kCall,      // children[0](children[1..], kwargs)
  kFilter,    // children[0] | name(children[1..], kwargs)
  kTest,      // children[0] is [not] name(children[1..], kwargs)
  kUnary,     // name ("-", "+", "not") applied to children[0]
  kBinary,    // children[0] ops[0] children[1] ops[1] ... (left to right, one precedence level)
  kAnd,       // children[0] and children[1] and ... (short-circuit)
  kOr,        // children[0] or children[1] or ...
  kCompare,   // children[0] ops[0] children[1] ...: == != < <= > >= in notin (chained)
  kCondExpr,  // children[0] if children[1] else children[2] (else may be null: undefined)
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int line = 1;
  int depth = 1;  // height of this subtree (bounded by the parser)
  Value literal;
  std::string name;
  bool negated = false;  // kTest: `is not`
  std::vector<std::unique_ptr<Expr>> children;
  std::vector<std::string> ops;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
};
using ExprPtr = std::unique_ptr<Expr>;

enum class StmtKind : uint8_t {
  kText,      // text
  kOutput,    // {{ expr }}
  kIf,        // conds[i] -> bodies[i], else_body
  kFor,       // for target in expr [if filter]: bodies[0], else_body
  kSet,       // {% set target = expr %}
  kSetBlock,  // {% set target %}bodies[0]{% endset %}
  kMacro,     // {% macro %}: macro
  kWith,      // {% with targets = with_values %}bodies[0]
  kBreak,
  kContinue,
  kBlock,  // bodies[0] inline ({% generation %})
};

// An assignment target: one name, names to unpack (`a, b`), or a namespace attribute
// (`ns.attr`: names[0] is the namespace variable).
struct Target {
  std::vector<std::string> names;
  bool unpack = false;
  std::string ns_attr;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Macro {
  std::string name;
  int line = 1;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param; null when the param has none
  Body body;
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  int line = 1;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;
  Target target;
  std::vector<ExprPtr> conds;
  std::vector<Body> bodies;
  Body else_body;
  std::unique_ptr<Macro> macro;
  std::vector<Target> with_targets;
  std::vector<ExprPtr> with_values;
  bool uses_loop = true;  // kFor: the body mentions `loop` (else no loop object is built)
};

}  // namespace r1::jinja::internal::ast

#endif  // R1_COMMON_JINJA_INTERNAL_AST_H_
