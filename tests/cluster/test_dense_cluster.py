"""A dense R1-Distill-shaped checkpoint served end to end (CTest `dense_cluster_test`, label
`cluster`): r1-coordinator and CPU r1-workers on loopback serving tests/fixtures/tiny-qwen2
(Qwen2 with GQA and q/k/v biases, Qwen2's byte-level BPE pipeline, R1's chat template, an
eos_token_id list), spoken to over HTTP. Greedy outputs must equal the continuation that
r1-dense-greedy computes in one process with DenseCpuModel."""

from __future__ import annotations

import http.client
import json
import subprocess

import jinja2
import pytest
from tokenizers import Tokenizer

from cluster_util import ROOT, Cluster, build_dir, sse_events

MODEL = ROOT / "tests" / "fixtures" / "tiny-qwen2"
MODEL_ID = "r1-tiny"  # cluster_util's --served_model_name
CONFIG = json.loads((MODEL / "config.json").read_text())
TOKENIZER_CONFIG = json.loads((MODEL / "tokenizer_config.json").read_text())
BOS = TOKENIZER_CONFIG["bos_token"]["content"]
EOS_IDS = CONFIG["eos_token_id"]  # a list: generation ends on any of them


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.from_file(str(MODEL / "tokenizer.json"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two workers: two groups of one (a dense model is not split over a group)."""
    c = Cluster(tmp_path_factory.mktemp("dense"), MODEL, 1)
    try:
        c.add_worker("w0")
        c.add_worker("w1")
        c.wait_serving(2)
    except Exception:
        c.stop()
        raise
    yield c
    c.stop()


def reference(tok: Tokenizer, prompt_ids: list[int], max_new: int) -> tuple[list[int], str]:
    """DenseCpuModel's greedy continuation (ids including the EOS that ended it) and finish."""
    out = subprocess.run(
        [str(build_dir() / "tests" / "cluster" / "r1-dense-greedy"), f"--model={MODEL}",
         "--prompt=" + ",".join(map(str, prompt_ids)), f"--max_new_tokens={max_new}",
         "--stop_ids=" + ",".join(map(str, EOS_IDS)),
         f"--valid_vocab={tok.get_vocab_size(with_added_tokens=True)}"],
        check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)
    return r["ids"], r["finish"]


def expected_text(tok: Tokenizer, ids: list[int], finish: str) -> str:
    """What the API returns for `ids`: the EOS that ended them is not text, special tokens are
    skipped."""
    if finish == "stop":
        ids = ids[:-1]
    return tok.decode(ids, skip_special_tokens=True)


def chat_prompt_ids(tok: Tokenizer, messages) -> list[int]:
    text = jinja2.Environment().from_string(TOKENIZER_CONFIG["chat_template"]).render(
        messages=messages, add_generation_prompt=True, bos_token=BOS)
    return tok.encode(text, add_special_tokens=False).ids


def split_reasoning(text: str) -> tuple[str, str]:
    """R1's template opens <think>: the output is reasoning up to </think>, the answer after (a
    <think> at the very start of the output is dropped)."""
    if text.startswith("<think>"):
        text = text[len("<think>"):]
    if "</think>" in text:
        reasoning, content = text.split("</think>", 1)
        return reasoning, content
    return text, ""


MESSAGES = [{"role": "system", "content": "You add numbers."},
            {"role": "user", "content": "What is 12 + 30?"}]


def test_chat_completion_equals_the_dense_model(cluster, tok):
    prompt = chat_prompt_ids(tok, MESSAGES)
    ids, finish = reference(tok, prompt, 24)
    status, r = cluster.request("POST", "/v1/chat/completions", {
        "model": MODEL_ID, "messages": MESSAGES, "max_tokens": 24, "temperature": 0})
    assert status == 200, r
    choice = r["choices"][0]
    assert choice["finish_reason"] == finish
    assert r["usage"]["prompt_tokens"] == len(prompt)
    assert r["usage"]["completion_tokens"] == len(ids)
    reasoning, content = split_reasoning(expected_text(tok, ids, finish))
    got_reasoning = choice["message"].get("reasoning_content") or ""
    got_content = choice["message"].get("content") or ""
    assert got_reasoning + got_content, r
    assert (got_reasoning.strip(), got_content.strip()) == (reasoning.strip(), content.strip())

    # Streaming: the same text chunk by chunk, the same finish and usage.
    conn = http.client.HTTPConnection("127.0.0.1", cluster.http_port, timeout=60)
    conn.request("POST", "/v1/chat/completions", json.dumps({
        "model": MODEL_ID, "messages": MESSAGES, "max_tokens": 24, "temperature": 0,
        "stream": True, "stream_options": {"include_usage": True}}),
        {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    s_reasoning, s_content, s_finish, s_usage, done = "", "", None, None, False
    for ev in sse_events(resp):
        if ev == "[DONE]":
            done = True
            break
        s_usage = ev.get("usage") or s_usage
        for ch in ev["choices"]:
            s_reasoning += ch["delta"].get("reasoning_content") or ""
            s_content += ch["delta"].get("content") or ""
            s_finish = ch.get("finish_reason") or s_finish
    conn.close()
    assert done
    assert (s_reasoning, s_content, s_finish) == (got_reasoning, got_content, finish)
    assert s_usage["completion_tokens"] == len(ids)


@pytest.mark.parametrize("prompt", ["The sum of two and three is", "Once upon a time, 7 + 8 ="])
def test_completion_equals_the_dense_model(cluster, tok, prompt):
    ids_in = tok.encode(prompt, add_special_tokens=True).ids
    assert ids_in[0] == tok.token_to_id(BOS)
    ids, finish = reference(tok, ids_in, 20)
    status, r = cluster.request("POST", "/v1/completions", {
        "model": MODEL_ID, "prompt": prompt, "max_tokens": 20, "temperature": 0})
    assert status == 200, r
    assert r["usage"]["prompt_tokens"] == len(ids_in)
    assert r["usage"]["completion_tokens"] == len(ids)
    assert r["choices"][0]["finish_reason"] == finish
    assert r["choices"][0]["text"] == expected_text(tok, ids, finish)
    # Deterministic: the same answer again (from either worker, its prefix cache warm or not).
    for _ in range(2):
        status, again = cluster.request("POST", "/v1/completions", {
            "model": MODEL_ID, "prompt": prompt, "max_tokens": 20, "temperature": 0})
        assert status == 200 and again["choices"][0]["text"] == r["choices"][0]["text"]


@pytest.mark.parametrize("eos", EOS_IDS)
def test_every_eos_id_of_the_config_ends_the_output(cluster, tok, eos):
    """config.json's eos_token_id is a list: a token forced to any of them ends the answer."""
    status, r = cluster.request("POST", "/v1/completions", {
        "model": MODEL_ID, "prompt": "Hello", "max_tokens": 8, "temperature": 0,
        "logit_bias": {str(eos): 100}})
    assert status == 200, r
    assert r["choices"][0]["finish_reason"] == "stop"
    assert r["usage"]["completion_tokens"] == 1
    assert r["choices"][0]["text"] == ""
    # ignore_eos: the same forced token no longer ends it.
    status, r = cluster.request("POST", "/v1/completions", {
        "model": MODEL_ID, "prompt": "Hello", "max_tokens": 8, "temperature": 0,
        "logit_bias": {str(eos): 100}, "ignore_eos": True})
    assert status == 200, r
    assert r["choices"][0]["finish_reason"] == "length"
    assert r["usage"]["completion_tokens"] == 8


@pytest.mark.parametrize("path,body,want", [
    ("/v1/chat/completions", {"model": MODEL_ID, "max_tokens": 4}, 400),
    ("/v1/chat/completions", {"model": MODEL_ID, "messages": "hi", "max_tokens": 4}, 400),
    ("/v1/completions", {"model": MODEL_ID, "prompt": "x", "max_tokens": 5000}, 400),
    ("/v1/completions", {"model": MODEL_ID, "prompt": [1, 100000], "max_tokens": 4}, 400),
    ("/v1/chat/completions", {"model": "other", "messages": MESSAGES, "max_tokens": 4}, 404),
])
def test_bad_requests_get_openai_error_objects(cluster, path, body, want):
    status, obj = cluster.request("POST", path, body, timeout=30)
    assert status == want, obj
    assert isinstance(obj, dict) and isinstance(obj.get("error"), dict), obj
    assert isinstance(obj["error"].get("message"), str) and obj["error"]["message"]
    assert obj["error"].get("type")


def test_coordinator_refuses_groups_of_several_workers(tmp_path):
    """A dense model has no experts to spread over a group: --group_size=2 is refused at start."""
    p = subprocess.run(
        [str(build_dir() / "coordinator" / "r1-coordinator"), f"--model={MODEL}",
         "--group_size=2", "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0"],
        capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "--group_size=2" in p.stderr and "dense" in p.stderr, p.stderr
