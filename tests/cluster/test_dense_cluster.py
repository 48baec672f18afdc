"""Dense R1-Distill-shaped checkpoints served end to end (CTest `dense_cluster_test`, label
`cluster`): r1-coordinator and CPU r1-workers on loopback serving tests/fixtures/tiny-qwen2
(Qwen2 with GQA and q/k/v biases, Qwen2's byte-level BPE pipeline, R1's chat template, an
eos_token_id list) and tests/fixtures/tiny-llama (Llama without biases, llama3 RoPE scaling,
Llama 3's pipeline, one eos_token_id), spoken to over HTTP. Greedy outputs must equal the
continuation that r1-dense-greedy computes in one process with DenseCpuModel."""

from __future__ import annotations

import http.client
import json
import subprocess

import jinja2
import pytest
from tokenizers import Tokenizer

from cluster_util import ROOT, Cluster, build_dir, sse_events

MODEL_ID = "r1-tiny"  # cluster_util's --served_model_name
QWEN2 = ROOT / "tests" / "fixtures" / "tiny-qwen2"


class Model:
    """One fixture checkpoint: its directory, tokenizer, chat template, BOS and EOS ids."""

    def __init__(self, name: str):
        self.dir = ROOT / "tests" / "fixtures" / name
        config = json.loads((self.dir / "config.json").read_text())
        self.tokenizer_config = json.loads((self.dir / "tokenizer_config.json").read_text())
        self.bos = self.tokenizer_config["bos_token"]["content"]
        eos = config["eos_token_id"]  # one id, or a list: generation ends on any of them
        self.eos_ids = eos if isinstance(eos, list) else [eos]
        self.tok = Tokenizer.from_file(str(self.dir / "tokenizer.json"))


@pytest.fixture(scope="module", params=["tiny-qwen2", "tiny-llama"])
def model(request) -> Model:
    return Model(request.param)


@pytest.fixture(scope="module")
def tok(model) -> Tokenizer:
    return model.tok


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, model):
    """Two workers: two groups of one (a dense model is not split over a group)."""
    c = Cluster(tmp_path_factory.mktemp("dense"), model.dir, 1)
    try:
        c.add_worker("w0")
        c.add_worker("w1")
        c.wait_serving(2)
    except Exception:
        c.stop()
        raise
    yield c
    c.stop()


def reference(model: Model, prompt_ids: list[int], max_new: int) -> tuple[list[int], str]:
    """DenseCpuModel's greedy continuation (ids including the EOS that ended it) and finish."""
    tok = model.tok
    out = subprocess.run(
        [str(build_dir() / "tests" / "cluster" / "r1-dense-greedy"), f"--model={model.dir}",
         "--prompt=" + ",".join(map(str, prompt_ids)), f"--max_new_tokens={max_new}",
         "--stop_ids=" + ",".join(map(str, model.eos_ids)),
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


def chat_prompt_ids(model: Model, messages) -> list[int]:
    text = jinja2.Environment().from_string(model.tokenizer_config["chat_template"]).render(
        messages=messages, add_generation_prompt=True, bos_token=model.bos)
    return model.tok.encode(text, add_special_tokens=False).ids


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


def test_chat_completion_equals_the_dense_model(cluster, model, tok):
    prompt = chat_prompt_ids(model, MESSAGES)
    ids, finish = reference(model, prompt, 24)
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
def test_completion_equals_the_dense_model(cluster, model, tok, prompt):
    ids_in = tok.encode(prompt, add_special_tokens=True).ids
    assert ids_in[0] == tok.token_to_id(model.bos)
    ids, finish = reference(model, ids_in, 20)
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


def test_every_eos_id_of_the_config_ends_the_output(cluster, model):
    """config.json's eos_token_id (a list for tiny-qwen2, one id for tiny-llama): a token forced
    to any of them ends the answer; with ignore_eos it no longer does."""
    for eos in model.eos_ids:
        status, r = cluster.request("POST", "/v1/completions", {
            "model": MODEL_ID, "prompt": "Hello", "max_tokens": 8, "temperature": 0,
            "logit_bias": {str(eos): 100}})
        assert status == 200, r
        assert r["choices"][0]["finish_reason"] == "stop", eos
        assert r["usage"]["completion_tokens"] == 1
        assert r["choices"][0]["text"] == ""
        status, r = cluster.request("POST", "/v1/completions", {
            "model": MODEL_ID, "prompt": "Hello", "max_tokens": 8, "temperature": 0,
            "logit_bias": {str(eos): 100}, "ignore_eos": True})
        assert status == 200, r
        assert r["choices"][0]["finish_reason"] == "length", eos
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
        [str(build_dir() / "coordinator" / "r1-coordinator"), f"--model={QWEN2}",
         "--group_size=2", "--grpc_address=127.0.0.1:0", "--http_address=127.0.0.1:0"],
        capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "--group_size=2" in p.stderr and "dense" in p.stderr, p.stderr
