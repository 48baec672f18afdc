"""R1's official chat template (tests/fixtures/deepseek-r1-chat_template.jinja) rendered by the
C++ Jinja interpreter (common/jinja, through r1-tokenize op "chat": the renderer the coordinator
uses) against Python's Jinja2 configured the way transformers' apply_chat_template configures it,
on handcrafted and random conversations with tools; plus the tokens of a rendered prompt against
Hugging Face tokenizers."""

from __future__ import annotations

import json
import random

import jinja2
import jinja2.ext
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

from tokenizer_util import ROOT, run_cli, tokenizer_paths

BOS = "<｜begin▁of▁sentence｜>"
TEMPLATE_PATH = ROOT / "tests" / "fixtures" / "deepseek-r1-chat_template.jinja"
TEMPLATE = TEMPLATE_PATH.read_text(encoding="utf-8")
CHAT_ARGS = (f"--chat_template={TEMPLATE_PATH}",)


_JINJA = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                       extensions=[jinja2.ext.loopcontrols]).from_string(TEMPLATE)


def render_jinja(messages, add_generation_prompt):
    return _JINJA.render(messages=messages, bos_token=BOS, add_generation_prompt=add_generation_prompt)


def call(name, args, type_="function"):
    return {"type": type_, "function": {"name": name, "arguments": json.dumps(args)}}


HANDCRAFTED = [
    [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 2+2?"},
     {"role": "assistant", "content": "<think>\nSimple.\n</think>\n\n2+2 = 4."}, {"role": "user", "content": "And 3+3?"}],
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "A"}, {"role": "system", "content": "B"}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "q"}, {"role": "system", "content": "late system"}, {"role": "user", "content": "q2"}],
    [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a</think>b</think>c"}],
    [{"role": "user", "content": "x"}, {"role": "assistant", "content": "no reasoning here"}],
    [{"role": "user", "content": "x"}, {"role": "assistant", "content": "<think>unterminated"}],
    [],
    [{"role": "system", "content": ""}, {"role": "user", "content": ""}, {"role": "assistant", "content": ""}],
    # Tools: the first call of the conversation, content null.
    [{"role": "user", "content": "Weather in Paris?"},
     {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Paris"})]},
     {"role": "tool", "content": "{\"temp\": 21}"},
     {"role": "assistant", "content": "It is 21 degrees."}],
    # Content with the call, two calls, two outputs, ends in tool outputs.
    [{"role": "user", "content": "Compare"},
     {"role": "assistant", "content": "Let me check.",
      "tool_calls": [call("a", {"x": 1}), call("b", {"y": [1, 2]})]},
     {"role": "tool", "content": "1"}, {"role": "tool", "content": "2"}],
    # A second assistant tool-call message: the template's never-reset flag.
    [{"role": "user", "content": "u1"},
     {"role": "assistant", "content": None, "tool_calls": [call("f", {})]},
     {"role": "tool", "content": "r1"},
     {"role": "assistant", "content": "ignored content", "tool_calls": [call("g", {"k": "v"})]},
     {"role": "tool", "content": "r2"},
     {"role": "assistant", "content": "<think>t</think>done"},
     {"role": "user", "content": "u2"}],
    # Empty tool_calls list, unknown roles and messages without a role are skipped.
    [{"role": "user", "content": "u"}, {"role": "assistant", "content": "c", "tool_calls": []},
     {"role": "developer", "content": "dev"}, {"content": "no role"}, {"role": "user", "content": "again"}],
    # Tool output followed by a user turn (leaves tool mode), then generation prompt.
    [{"role": "user", "content": "u"}, {"role": "assistant", "content": None, "tool_calls": [call("f", {"a": 1})]},
     {"role": "tool", "content": "out"}, {"role": "user", "content": "next"}],
    # Special tokens and unicode inside content are plain text for the template.
    [{"role": "user", "content": "<｜User｜>中文 😀\n<think>"}, {"role": "assistant", "content": "é\u0301</think>\n\nok"}],
    [{"role": "user", "content": "code"},
     {"role": "assistant", "content": None, "tool_calls": [call("run", {"code": "print('\\n')"}, type_="code")]}],
]

# Conversations the template cannot render (Jinja2 raises); the C++ renderer must refuse them.
INVALID = [
    [{"role": "user", "content": None}],
    [{"role": "user"}],
    [{"role": "system", "content": None}, {"role": "user", "content": "x"}],
    [{"role": "assistant", "content": None}],
    [{"role": "assistant", "content": "x", "tool_calls": None}],
    [{"role": "assistant", "tool_calls": [call("f", {})]}],
    [{"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "f",
                                                                                           "arguments": {"a": 1}}}]}],
    [{"role": "user", "content": [{"type": "text", "text": "parts"}]}],
    [{"role": "tool", "content": 5}],
]


def random_conversation(r: random.Random):
    words = ["hello", "world", "2+2", "中文", "😀", "\n", "</think>", "<think>", "  ", "answer", "{\"a\": 1}", "é"]

    def text():
        return "".join(r.choice(words) + r.choice(["", " "]) for _ in range(r.randint(0, 6)))

    msgs = []
    for _ in range(r.randint(0, 3) if r.random() < 0.3 else 0):
        msgs.append({"role": "system", "content": text()})
    for _ in range(r.randint(1, 8)):
        k = r.random()
        if k < 0.35:
            msgs.append({"role": "user", "content": text()})
        elif k < 0.6:
            msgs.append({"role": "assistant", "content": text() + r.choice(["", "</think>"]) + text()})
        elif k < 0.8:
            calls = [call(r.choice(["f", "get_weather", "search"]), {"q": text()}, r.choice(["function", "code"]))
                     for _ in range(r.randint(0, 3))]
            msgs.append({"role": "assistant", "content": r.choice([None, text()]), "tool_calls": calls})
        elif k < 0.95:
            msgs.append({"role": "tool", "content": text()})
        else:
            msgs.append({"role": r.choice(["system", "developer"]), "content": text()})
    return msgs


def conversations():
    r = random.Random(11)
    return HANDCRAFTED + [random_conversation(r) for _ in range(120)]


def test_chat_template_matches_jinja2(build_dir):
    convs = conversations()
    requests, want = [], []
    for msgs in convs:
        for gen in (False, True):
            requests.append({"op": "chat", "messages": msgs, "add_generation_prompt": gen, "bos_token": BOS})
            want.append(render_jinja(msgs, gen))
    got = run_cli(build_dir, None, requests, CHAT_ARGS)
    bad = [(q["messages"], q["add_generation_prompt"], w, g) for q, w, g in zip(requests, want, got)
           if g.get("text") != w]
    n_tools = sum(any("tool_calls" in m or m.get("role") == "tool" for m in c) for c in convs)
    print(f"chat template: {len(convs)} conversations ({n_tools} with tools) x 2 = {len(requests)} renderings "
          f"compared, {len(bad)} mismatches")
    assert not bad, bad[:2]


def test_spec_examples(build_dir):
    # spec §12.2, verbatim, from the C++ Jinja renderer.
    r1, r2 = (g["text"] for g in run_cli(build_dir, None, [
        {"op": "chat", "messages": HANDCRAFTED[i], "add_generation_prompt": True, "bos_token": BOS}
        for i in (0, 1)], CHAT_ARGS))
    assert r1 == BOS + "You are a helpful assistant.<｜User｜>What is 2+2?<｜Assistant｜><think>\n"
    assert r2 == (BOS + "You are a helpful assistant.<｜User｜>What is 2+2?<｜Assistant｜>\n\n2+2 = 4."
                  "<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜><think>\n")


def test_invalid_conversations_are_refused_like_jinja2(build_dir):
    for msgs in INVALID:
        with pytest.raises(Exception):
            render_jinja(msgs, True)
    got = run_cli(build_dir, None, [{"op": "chat", "messages": m, "add_generation_prompt": True} for m in INVALID],
                  CHAT_ARGS)
    assert all("error" in g for g in got), got


@pytest.mark.parametrize("path", tokenizer_paths(), ids=lambda p: p.parent.name)
def test_rendered_prompt_tokens_match_hf(build_dir, path):
    hf = Tokenizer.from_file(str(path))
    convs = conversations()[:60]
    got = run_cli(build_dir, path, [{"op": "chat_encode", "messages": m, "add_generation_prompt": True,
                                     "bos_token": BOS} for m in convs], CHAT_ARGS)
    want = [hf.encode(render_jinja(m, True), add_special_tokens=False).ids for m in convs]
    assert [g.get("ids") for g in got] == want
    # One BOS, from the template; the generation prompt ends in <think> and "\n".
    bos, think = hf.token_to_id(BOS), hf.token_to_id("<think>")
    for ids in want:
        assert ids[0] == bos and ids.count(bos) == 1
    assert want[0][-2] == think and hf.decode([want[0][-1]]) == "\n"


def test_tiny_tokenizer_config_carries_r1_template():
    cfg = json.loads((ROOT / "models" / "r1-tiny" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert cfg["chat_template"] == TEMPLATE
    assert cfg["bos_token"] == BOS and cfg["eos_token"] == "<｜end▁of▁sentence｜>"
    assert cfg["add_bos_token"] is True
