// Evaluates a parsed template: statements (exec.cc), expressions (eval.cc), and the hooks the
// built-in filters, tests, methods and functions use (step accounting, calling back into
// tests). One Renderer serves one Render() call on one thread; the AST it walks is shared and
// read-only.
#ifndef R1_COMMON_JINJA_INTERNAL_RENDERER_H_
#define R1_COMMON_JINJA_INTERNAL_RENDERER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/jinja/internal/ast.h"
#include "common/jinja/internal/value.h"
#include "common/jinja/template.h"

namespace r1::jinja::internal {

struct CallArgs {
  ValueList args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

// A variable scope: the template's top level, one for-loop iteration, a macro call, a with
// block. Lookups walk to the parent; {% set %} writes the innermost frame.
struct Frame {
  explicit Frame(Frame* parent) : parent(parent) {}
  Frame* parent;  // nullable; borrowed
  absl::flat_hash_map<std::string, Value> vars;
};

enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  explicit Renderer(const RenderLimits& limits) : limits_(limits) {}

  // Renders `body` with the variables of `context` (a dict).
  absl::StatusOr<std::string> Run(const ast::Body& body, const Dict& context);

  // Counts `n` units of work; ResourceExhausted past RenderLimits::max_steps.
  absl::Status Step(int64_t n = 1);
  // The bound on any string or list the template builds.
  size_t max_bytes() const { return limits_.max_output_bytes; }
  // Runs the test `name` (e.g. for select/selectattr).
  absl::StatusOr<bool> Test(const std::string& name, const Value& v, const CallArgs& args);
  absl::StatusOr<Value> Filter(const std::string& name, const Value& v, CallArgs args);

 private:
  absl::Status ExecBody(const ast::Body& body, Frame* f, Flow* flow);
  absl::Status Exec(const ast::Stmt& s, Frame* f, Flow* flow);
  absl::Status ExecFor(const ast::Stmt& s, Frame* f);
  absl::Status Assign(const ast::Target& t, const Value& v, Frame* f);
  absl::Status Emit(absl::string_view text);
  absl::StatusOr<std::string> Capture(const ast::Body& body, Frame* f);

  absl::StatusOr<Value> Eval(const ast::Expr& e, Frame* f);
  absl::StatusOr<Value> EvalInner(const ast::Expr& e, Frame* f);
  absl::StatusOr<CallArgs> EvalArgs(const ast::Expr& e, Frame* f);
  Value Lookup(const std::string& name, const Frame* f) const;
  absl::StatusOr<Value> Call(const Value& callee, CallArgs args);
  absl::StatusOr<Value> CallMacro(const Callable& c, CallArgs args);

  const RenderLimits& limits_;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  Frame* root_ = nullptr;
};

}  // namespace r1::jinja::internal

#endif  // R1_COMMON_JINJA_INTERNAL_RENDERER_H_
