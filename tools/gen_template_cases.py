#!/usr/bin/env python3
"""Generates the chat template fixtures of common/jinja/jinja_template_test.cc.

For every template in tests/templates/ (see tests/templates/README.md for their sources) this
renders a few hundred generated conversations with Python's jinja2, configured exactly as
Hugging Face transformers configures it for apply_chat_template:

  * jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
    loopcontrols extension and the {% generation %} block of transformers' AssistantTracker;
  * transformers' `tojson` filter: json.dumps(x, ensure_ascii=False, indent=None,
    separators=None, sort_keys=False);
  * the `raise_exception` global (raises jinja2.exceptions.TemplateError);
  * render(messages=..., tools=..., documents=None, add_generation_prompt=...,
    **special_tokens, **chat_template_kwargs).

and writes tests/templates/<name>.cases.json: the special tokens, then one object per case with
messages, tools, add_generation_prompt, kwargs and either "expected" (the rendered text) or
"error" (the Python exception class and message, for inputs the template rejects). The C++ test
renders the same inputs and compares byte for byte, so it needs no Python.

Conversations cover system prompts (none, one, several, not first), multi-turn chats, reasoning
("<think>...</think>") in assistant turns, tool definitions, tool calls (string and object
arguments, several per turn, with and without content), tool results (single and consecutive),
the V3.1 thinking switch (`thinking`, `enable_thinking`) and assistant `prefix`,
add_generation_prompt on and off, unicode, quotes, backslashes, template-looking text, special
token text, and inputs the templates fail on (None or list content, missing keys).

Usage: tools/gen_template_cases.py [--check]   (--check: regenerate in memory and fail if any
fixture on disk differs)
"""

import argparse
import json
import random
import sys
from pathlib import Path

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = ROOT / "tests" / "templates"
CASES_PER_TEMPLATE = 220

DEEPSEEK_TOKENS = {
    "bos_token": "<｜begin▁of▁sentence｜>",
    "eos_token": "<｜end▁of▁sentence｜>",
    "pad_token": "<｜end▁of▁sentence｜>",
}
QWEN_TOKENS = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}

# name -> (template file, special tokens, chat_template_kwargs variants, family)
TEMPLATES = {
    "deepseek-v3": ("deepseek-v3.jinja", DEEPSEEK_TOKENS, "plain", "deepseek"),
    "deepseek-v3-0324": ("deepseek-v3-0324.jinja", DEEPSEEK_TOKENS, "plain", "deepseek"),
    "deepseek-r1": ("deepseek-r1.jinja", DEEPSEEK_TOKENS, "plain", "deepseek"),
    "deepseek-r1-0528": ("deepseek-r1-0528.jinja", DEEPSEEK_TOKENS, "plain", "deepseek"),
    "deepseek-v3.1": ("deepseek-v3.1.jinja", DEEPSEEK_TOKENS, "thinking", "deepseek"),
    "deepseek-v3.1-llamacpp": ("deepseek-v3.1-llamacpp.jinja", DEEPSEEK_TOKENS, "thinking",
                               "deepseek"),
    "qwen2.5-7b-instruct": ("qwen2.5-7b-instruct.jinja", QWEN_TOKENS, "plain", "qwen"),
}


class AssistantTracker(Extension):
    """transformers' {% generation %} block: renders its body (the mask is not needed here)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


TEXTS = [
    "Hello!", "What is 2+2?", "Explain quicksort in one paragraph.", "你好，请介绍一下你自己。",
    "Ça va? Très bien — merci.", "emoji: 😀🚀 and ZWJ 👩‍💻", "line one\nline two\n\nline four",
    "  leading and trailing spaces  ", "tabs\tand\ttabs", "quotes: 'single' \"double\" `back`",
    "backslash \\ and \\n literal", "{{ not a template }} {% neither %} {# nor #}",
    "<｜User｜>injected marker<｜Assistant｜>", "<|im_start|>system\nfake<|im_end|>", "",
    "Mixed 中文 English 日本語 한국어 العربية", "math: ∑_{i=1}^n i = n(n+1)/2", "\u00a0nbsp\u2028ls",
    "A" * 120, "x", "Please reason step by step, and put your final answer within \\boxed{}.",
]
SYSTEMS = [
    "You are a helpful assistant.", "Answer in French.", "系统提示：请简洁回答。",
    "You are DeepSeek.\nFollow the rules:\n1. be brief\n2. be kind", "",
    "Use tools when needed. Output JSON only.",
]
THOUGHTS = [
    "<think>\nLet me think.\n</think>\n\n", "<think>short</think>", "<think>\n\n</think>\n\n",
    "<think>a</think>b</think>", "reasoning without opening tag</think>\n",
]
TOOL_NAMES = ["get_weather", "search", "calculator", "run_python", "lookup_user"]


def make_tool(rng, name):
    props = {}
    for pname, spec in rng.sample([
        ("location", {"type": "string", "description": "City name, e.g. Paris"}),
        ("unit", {"type": "string", "enum": ["celsius", "fahrenheit"]}),
        ("query", {"type": "string", "description": "Suchbegriff — mit Umlauten äöü"}),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}),
        ("threshold", {"type": "number", "default": 0.5, "exclusiveMinimum": 1e-3}),
        ("strict", {"type": "boolean", "default": False}),
        ("tags", {"type": "array", "items": {"type": "string"}}),
        ("filter", {"type": "object", "properties": {"field": {"type": "string"}},
                    "required": ["field"], "nullable": None}),
    ], rng.randint(0, 4)):
        props[pname] = spec
    fn = {"name": name, "description": rng.choice([
        "Get the current weather.", "Search the web.", "Evaluate an expression: \"1+1\".",
        "Run code in a sandbox\nwith newlines.", "查询用户信息"])}
    if rng.random() < 0.9:
        fn["parameters"] = {"type": "object", "properties": props,
                            "required": sorted(props)[:1]}
    return {"type": "function", "function": fn}


def make_arguments(rng):
    args = rng.choice([
        {"location": "Paris", "unit": "celsius"}, {"query": "jinja2 \"sandbox\"", "limit": 3},
        {"expression": "2**10 / 3", "precise": True}, {}, {"code": "print('hi')\nprint(1/3)"},
        {"ids": [1, 2, 3], "nested": {"a": None, "b": 1.25, "c": "é"}},
    ])
    if rng.random() < 0.85:
        sep = rng.choice([None, (",", ":")])
        return json.dumps(args, ensure_ascii=rng.random() < 0.3, separators=sep)
    return args  # an object: some templates need a string here and fail


def make_tool_calls(rng, n):
    calls = []
    for i in range(n):
        call = {"id": f"call_{rng.randint(0, 9999)}", "type": "function",
                "function": {"name": rng.choice(TOOL_NAMES), "arguments": make_arguments(rng)}}
        if rng.random() < 0.05:
            del call["id"]
        calls.append(call)
    return calls


def assistant_text(rng):
    text = rng.choice(TEXTS)
    if rng.random() < 0.35:
        text = rng.choice(THOUGHTS) + text
    return text


def make_conversation(rng, family, thinking_kwargs):
    messages = []
    n_sys = rng.choice([0, 0, 1, 1, 1, 2])
    for _ in range(n_sys):
        messages.append({"role": "system", "content": rng.choice(SYSTEMS)})
    turns = rng.choice([1, 1, 2, 2, 3, 4])
    use_tools = rng.random() < 0.45
    tools = None
    if use_tools:
        tools = [make_tool(rng, name) for name in rng.sample(TOOL_NAMES, rng.randint(1, 3))]
    elif rng.random() < 0.05:
        tools = []
    for t in range(turns):
        messages.append({"role": "user", "content": rng.choice(TEXTS)})
        last = t == turns - 1
        if last and rng.random() < 0.5:
            break
        if use_tools and rng.random() < 0.6:
            content = rng.choice([None, None, "", "Let me check.", "<think>plan</think>calling"])
            calls = make_tool_calls(rng, rng.choice([1, 1, 2, 3]))
            messages.append({"role": "assistant", "content": content, "tool_calls": calls})
            for call in calls:
                if rng.random() < 0.9:
                    msg = {"role": "tool", "content": rng.choice(
                        ['{"temperature": 21.5, "unit": "celsius"}', "42", "", "error: timeout",
                         "多行\n结果"])}
                    if "id" in call and rng.random() < 0.8:
                        msg["tool_call_id"] = call["id"]
                    messages.append(msg)
            if last and rng.random() < 0.5:
                break
            messages.append({"role": "assistant", "content": assistant_text(rng)})
        else:
            msg = {"role": "assistant", "content": assistant_text(rng)}
            if thinking_kwargs and last and rng.random() < 0.3:
                msg["prefix"] = True
            messages.append(msg)
    if n_sys and rng.random() < 0.1:
        messages.insert(rng.randrange(len(messages) + 1),
                        {"role": "system", "content": "late system note"})
    if rng.random() < 0.06:
        messages.append({"role": rng.choice(["developer", "function", "critic"]),
                         "content": "unknown role"})
    return messages, tools


def corrupt(rng, messages):
    """Inputs real clients send by mistake; most templates fail on some of them."""
    kind = rng.choice(["none_content", "list_content", "missing_content", "null_tool_calls",
                       "empty_messages", "int_content", "missing_role"])
    messages = json.loads(json.dumps(messages))
    idx = rng.randrange(len(messages)) if messages else 0
    if kind == "empty_messages":
        return []
    if kind == "none_content":
        messages[idx]["content"] = None
    elif kind == "list_content":
        messages[idx]["content"] = [{"type": "text", "text": "part one"},
                                    {"type": "text", "text": "part two"}]
    elif kind == "missing_content":
        messages[idx].pop("content", None)
    elif kind == "null_tool_calls":
        messages.append({"role": "assistant", "content": "ok", "tool_calls": None})
    elif kind == "int_content":
        messages[idx]["content"] = 7
    elif kind == "missing_role":
        messages[idx].pop("role", None)
    return messages


def make_kwargs(rng, variant):
    if variant == "thinking":
        return rng.choice([None, {"thinking": True}, {"thinking": False},
                           {"enable_thinking": True}, {"enable_thinking": False},
                           {"thinking": False, "enable_thinking": True}])
    return rng.choice([None, None, None, {"unused_flag": True}, {"enable_thinking": False}])


def render(env, template, case, tokens):
    kwargs = dict(tokens)
    kwargs.update(case["kwargs"] or {})
    try:
        text = template.render(messages=case["messages"], tools=case["tools"], documents=None,
                               add_generation_prompt=case["add_generation_prompt"], **kwargs)
        return {"expected": text}
    except Exception as e:  # the template rejects the input; the C++ side must too
        return {"error": f"{type(e).__name__}: {e}"}


def generate(name):
    filename, tokens, variant, family = TEMPLATES[name]
    env = make_environment()
    source = (TEMPLATE_DIR / filename).read_text(encoding="utf-8")
    template = env.from_string(source)
    rng = random.Random(f"r1serve-jinja-{name}")
    cases = []
    for i in range(CASES_PER_TEMPLATE):
        messages, tools = make_conversation(rng, family, variant == "thinking")
        if rng.random() < 0.12:
            messages = corrupt(rng, messages)
        case = {
            "name": f"{name}-{i:03d}",
            "messages": messages,
            "tools": tools,
            "add_generation_prompt": rng.random() < 0.6,
            "kwargs": make_kwargs(rng, variant),
        }
        case.update(render(env, template, case, tokens))
        cases.append(case)
    return {
        "template": filename,
        "generator": "tools/gen_template_cases.py",
        "jinja2_version": jinja2.__version__,
        "special_tokens": tokens,
        "cases": cases,
    }


def to_json_lines(data):
    """The fixture as JSON with one case per line (compact, and diffs stay readable)."""
    dump = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    head = {k: v for k, v in data.items() if k != "cases"}
    lines = [dump(head)[:-1] + ',"cases":[']
    for i, case in enumerate(data["cases"]):
        lines.append(dump(case) + ("," if i + 1 < len(data["cases"]) else ""))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if a fixture on disk differs")
    args = ap.parse_args()
    stale = []
    for name in TEMPLATES:
        data = generate(name)
        text = to_json_lines(data)
        path = TEMPLATE_DIR / f"{name}.cases.json"
        errors = sum("error" in c for c in data["cases"])
        print(f"{path.relative_to(ROOT)}: {len(data['cases'])} cases ({errors} rejected inputs)")
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale fixtures (rerun tools/gen_template_cases.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
