// Statement execution (see renderer.h).
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/jinja/internal/builtins.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/renderer.h"
#include "common/jinja/internal/value_format.h"
#include "common/status_macros.h"

namespace r1::jinja::internal {

using ast::StmtKind;

absl::StatusOr<std::string> Renderer::Run(const ast::Body& body, const Dict& context) {
  Frame root(nullptr);
  for (const auto& [k, v] : context.entries) root.vars[k] = v;
  root_ = &root;
  std::string out;
  out_ = &out;
  Flow flow = Flow::kNormal;
  RETURN_IF_ERROR(ExecBody(body, &root, &flow));
  root_ = nullptr;
  out_ = nullptr;
  return out;
}

absl::Status Renderer::Step(int64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps) {
    return absl::ResourceExhaustedError(
        absl::StrCat("template evaluation exceeds ", limits_.max_steps, " steps"));
  }
  return absl::OkStatus();
}

absl::Status Renderer::Emit(absl::string_view text) {
  if (out_->size() + text.size() > limits_.max_output_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("template output exceeds ", limits_.max_output_bytes, " bytes"));
  }
  out_->append(text.data(), text.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> Renderer::Capture(const ast::Body& body, Frame* f) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  Flow flow = Flow::kNormal;
  absl::Status s = ExecBody(body, f, &flow);
  out_ = saved;
  if (!s.ok()) return s;
  return buffer;
}

absl::Status Renderer::ExecBody(const ast::Body& body, Frame* f, Flow* flow) {
  for (const auto& s : body) {
    RETURN_IF_ERROR(Exec(*s, f, flow));
    if (*flow != Flow::kNormal) break;
  }
  return absl::OkStatus();
}

absl::Status Renderer::Assign(const ast::Target& t, const Value& v, Frame* f) {
  if (!t.ns_attr.empty()) {
    Value ns = Lookup(t.names[0], f);
    if (ns.kind() != Value::Kind::kNamespace) {
      return absl::InvalidArgumentError(
          "TemplateRuntimeError: cannot assign attribute on non-namespace object");
    }
    ns.ns().attrs.Set(t.ns_attr, v);
    return absl::OkStatus();
  }
  if (!t.unpack) {
    f->vars[t.names[0]] = v;
    return absl::OkStatus();
  }
  if (!(v.is_list() || v.is_dict() || v.is_string() || v.is_undefined())) {
    return TypeError(absl::StrCat("cannot unpack non-iterable ", v.TypeName(), " object"));
  }
  ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  if (items.size() != t.names.size()) {
    if (items.size() > t.names.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ValueError: too many values to unpack (expected ", t.names.size(), ")"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("ValueError: not enough values to unpack (expected ", t.names.size(), ", got ",
                     items.size(), ")"));
  }
  for (size_t i = 0; i < items.size(); ++i) f->vars[t.names[i]] = items[i];
  return absl::OkStatus();
}

absl::Status Renderer::ExecFor(const ast::Stmt& s, Frame* f) {
  ASSIGN_OR_RETURN(Value seq, Eval(*s.expr, f));
  auto iterated = Iterate(seq);
  if (!iterated.ok()) return AtLine(s.line, iterated.status());
  ValueList items = *std::move(iterated);
  if (s.filter != nullptr) {
    ValueList kept;
    for (const Value& item : items) {
      RETURN_IF_ERROR(AtLine(s.line, Step()));
      Frame tmp(f);
      RETURN_IF_ERROR(AtLine(s.line, Assign(s.target, item, &tmp)));
      ASSIGN_OR_RETURN(Value keep, Eval(*s.filter, &tmp));
      if (keep.Truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    Frame e(f);
    Flow flow = Flow::kNormal;
    return ExecBody(s.else_body, &e, &flow);
  }
  const int64_t n = static_cast<int64_t>(items.size());
  Frame it(f);  // one frame, emptied for every iteration: each iteration starts fresh
  for (int64_t i = 0; i < n; ++i) {
    RETURN_IF_ERROR(AtLine(s.line, Step()));
    it.vars.clear();
    RETURN_IF_ERROR(AtLine(s.line, Assign(s.target, items[i], &it)));
    Flow flow = Flow::kNormal;
    if (!s.uses_loop) {
      RETURN_IF_ERROR(ExecBody(s.bodies[0], &it, &flow));
      if (flow == Flow::kBreak) break;
      continue;
    }
    RETURN_IF_ERROR(AtLine(s.line, Step(8)));  // building the loop object
    Dict loop;
    loop.Set("index0", Value::Int(i));
    loop.Set("index", Value::Int(i + 1));
    loop.Set("revindex0", Value::Int(n - i - 1));
    loop.Set("revindex", Value::Int(n - i));
    loop.Set("first", Value::Bool(i == 0));
    loop.Set("last", Value::Bool(i == n - 1));
    loop.Set("length", Value::Int(n));
    loop.Set("depth0", Value::Int(0));
    loop.Set("depth", Value::Int(1));
    if (i > 0) loop.Set("previtem", items[i - 1]);
    if (i + 1 < n) loop.Set("nextitem", items[i + 1]);
    Callable cycle;
    cycle.type = Callable::Type::kLoopCycle;
    cycle.name = "cycle";
    cycle.self = Value::Int(i);
    loop.Set("cycle", Value::FromCallable(std::move(cycle)));
    it.vars["loop"] = Value::FromDict(std::move(loop));
    RETURN_IF_ERROR(ExecBody(s.bodies[0], &it, &flow));
    if (flow == Flow::kBreak) break;
  }
  return absl::OkStatus();
}

absl::Status Renderer::Exec(const ast::Stmt& s, Frame* f, Flow* flow) {
  RETURN_IF_ERROR(AtLine(s.line, Step()));
  switch (s.kind) {
    case StmtKind::kText:
      return AtLine(s.line, Emit(s.text));
    case StmtKind::kOutput: {
      ASSIGN_OR_RETURN(Value v, Eval(*s.expr, f));
      if (v.is_string()) return AtLine(s.line, Emit(v.str()));
      return AtLine(s.line, Emit(PyStr(v)));
    }
    case StmtKind::kIf:
      for (size_t i = 0; i < s.conds.size(); ++i) {
        ASSIGN_OR_RETURN(Value c, Eval(*s.conds[i], f));
        if (c.Truthy()) return ExecBody(s.bodies[i], f, flow);
      }
      return ExecBody(s.else_body, f, flow);
    case StmtKind::kFor:
      return ExecFor(s, f);
    case StmtKind::kSet: {
      ASSIGN_OR_RETURN(Value v, Eval(*s.expr, f));
      return AtLine(s.line, Assign(s.target, v, f));
    }
    case StmtKind::kSetBlock: {
      ASSIGN_OR_RETURN(std::string text, Capture(s.bodies[0], f));
      return AtLine(s.line, Assign(s.target, Value::String(std::move(text)), f));
    }
    case StmtKind::kMacro: {
      Callable c;
      c.type = Callable::Type::kMacro;
      c.name = s.macro->name;
      c.macro = s.macro.get();
      f->vars[s.macro->name] = Value::FromCallable(std::move(c));
      return absl::OkStatus();
    }
    case StmtKind::kWith: {
      Frame w(f);
      for (size_t i = 0; i < s.with_values.size(); ++i) {
        ASSIGN_OR_RETURN(Value v, Eval(*s.with_values[i], f));
        RETURN_IF_ERROR(AtLine(s.line, Assign(s.with_targets[i], v, &w)));
      }
      return ExecBody(s.bodies[0], &w, flow);
    }
    case StmtKind::kBreak:
      *flow = Flow::kBreak;
      return absl::OkStatus();
    case StmtKind::kContinue:
      *flow = Flow::kContinue;
      return absl::OkStatus();
    case StmtKind::kBlock:
      return ExecBody(s.bodies[0], f, flow);
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> Renderer::CallMacro(const Callable& c, CallArgs args) {
  const ast::Macro& m = *c.macro;
  if (call_depth_ >= limits_.max_call_depth) {
    return absl::ResourceExhaustedError(
        absl::StrCat("macro calls nest deeper than ", limits_.max_call_depth));
  }
  if (args.args.size() > m.params.size()) {
    return TypeError(
        absl::StrCat("macro '", m.name, "' takes not more than ", m.params.size(), " argument(s)"));
  }
  Frame mf(root_);
  std::vector<bool> set(m.params.size(), false);
  for (size_t i = 0; i < args.args.size(); ++i) {
    mf.vars[m.params[i]] = std::move(args.args[i]);
    set[i] = true;
  }
  for (auto& [key, value] : args.kwargs) {
    size_t i = 0;
    while (i < m.params.size() && m.params[i] != key) ++i;
    if (i == m.params.size()) {
      return TypeError(absl::StrCat("macro '", m.name, "' takes no keyword argument '", key, "'"));
    }
    if (set[i]) {
      return TypeError(
          absl::StrCat("macro '", m.name, "' got multiple values for argument '", key, "'"));
    }
    mf.vars[key] = std::move(value);
    set[i] = true;
  }
  for (size_t i = 0; i < m.params.size(); ++i) {
    if (set[i]) continue;
    if (m.defaults[i] != nullptr) {
      ASSIGN_OR_RETURN(mf.vars[m.params[i]], Eval(*m.defaults[i], &mf));
    } else {
      mf.vars[m.params[i]] =
          Value::Undefined(absl::StrCat("UndefinedError: '", m.params[i], "' is undefined"));
    }
  }
  ++call_depth_;
  auto text = Capture(m.body, &mf);
  --call_depth_;
  if (!text.ok()) return text.status();
  return Value::String(*std::move(text));
}

}  // namespace r1::jinja::internal
