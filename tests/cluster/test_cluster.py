"""The cluster as its users run it: r1-coordinator and r1-worker processes on loopback, spoken to
through the official `openai` client and raw HTTP (CTest label `cluster`)."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import pathlib
import re
import socket
import threading
import time

import jinja2
import openai
import pytest
from tokenizers import Tokenizer

from cluster_util import Cluster, prepare_model, prepare_random_model, sse_events

MODEL_ID = "r1-tiny"


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> pathlib.Path:
    return prepare_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> pathlib.Path:
    """For long-running streams: the trained model ends its answers within a few dozen tokens."""
    return prepare_random_model(tmp_path_factory.mktemp("random"))


@pytest.fixture(scope="session")
def hf_tokenizer(model):
    return Tokenizer.from_file(str(model / "tokenizer.json"))


def render_chat(model: pathlib.Path, messages) -> str:
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    env = jinja2.Environment(trim_blocks=False, lstrip_blocks=False)
    bos = cfg["bos_token"] if isinstance(cfg["bos_token"], str) else cfg["bos_token"]["content"]
    return env.from_string(cfg["chat_template"]).render(
        messages=messages, add_generation_prompt=True, bos_token=bos)


def start(tmp_path, model, group_size, workers, name="c", extra=None) -> Cluster:
    c = Cluster(tmp_path / name, model, group_size, extra)
    try:
        for i in range(workers):
            c.add_worker(f"{name}w{i}")
        c.wait_serving(workers // group_size)
    except Exception:
        c.stop()
        raise
    return c


@pytest.fixture
def cluster2(tmp_path, model):
    """2 workers, one group with expert parallelism 2."""
    c = start(tmp_path, model, 2, 2)
    yield c
    c.stop()


@pytest.fixture
def cluster2_random(tmp_path, random_model):
    """As cluster2, serving the random model."""
    c = start(tmp_path, random_model, 2, 2)
    yield c
    c.stop()


def client(c: Cluster) -> openai.OpenAI:
    return openai.OpenAI(base_url=c.base_url + "/v1", api_key="unused", max_retries=0,
                         timeout=120)


# --- the OpenAI client ------------------------------------------------------------------------

def test_openai_client_chat_and_completions(cluster2, model, hf_tokenizer):
    cl = client(cluster2)
    assert [m.id for m in cl.models.list().data] == [MODEL_ID]

    messages = [{"role": "system", "content": "You add numbers."},
                {"role": "user", "content": "What is 12 + 30?"}]
    expected_prompt = len(hf_tokenizer.encode(render_chat(model, messages),
                                              add_special_tokens=False).ids)

    r = cl.chat.completions.create(model=MODEL_ID, messages=messages, max_tokens=24,
                                   temperature=0)
    choice = r.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens == expected_prompt
    assert 0 < r.usage.completion_tokens <= 24
    if choice.finish_reason == "length":
        assert r.usage.completion_tokens == 24
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    reasoning = getattr(choice.message, "reasoning_content", None)
    # The prompt ends in "<think>\n": output is reasoning until "</think>", answer after it.
    assert reasoning or choice.message.content

    # Streaming: the same greedy text, chunk by chunk, usage in the final chunk.
    stream = cl.chat.completions.create(model=MODEL_ID, messages=messages, max_tokens=24,
                                        temperature=0, stream=True,
                                        stream_options={"include_usage": True})
    content, reason, finish, usage = "", "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            content += ch.delta.content or ""
            reason += getattr(ch.delta, "reasoning_content", None) or ""
            finish = ch.finish_reason or finish
    assert finish == choice.finish_reason
    assert content == (choice.message.content or "")
    assert reason == (reasoning or "")
    assert usage is not None and usage.completion_tokens == r.usage.completion_tokens
    assert usage.prompt_tokens == expected_prompt

    # Completions: the prompt is text the client wrote (BOS added once).
    prompt = "The answer is"
    rc = cl.completions.create(model=MODEL_ID, prompt=prompt, max_tokens=10, temperature=0)
    assert rc.usage.prompt_tokens == len(hf_tokenizer.encode(prompt).ids)
    assert rc.choices[0].finish_reason in ("stop", "length")
    assert 0 < rc.usage.completion_tokens <= 10


def test_reasoning_content_split_at_think_end(cluster2, model, hf_tokenizer):
    """A completion continuing a prompt that already closed the reasoning has no reasoning; a
    chat answer's text before </think> is reasoning_content (tested on whatever the model
    writes: all of it is reasoning unless the model emitted </think>)."""
    cl = client(cluster2)
    r = cl.chat.completions.create(model=MODEL_ID, max_tokens=40, temperature=0,
                                   messages=[{"role": "user", "content": "What is 7 + 8?"}])
    msg = r.choices[0].message
    reasoning = getattr(msg, "reasoning_content", None) or ""
    text = reasoning + (msg.content or "")
    assert text
    if "</think>" not in text and msg.content:
        # The model closed its reasoning: the split point was </think>, which is in neither part.
        assert reasoning


# --- greedy outputs across group sizes --------------------------------------------------------

PROMPTS = [
    [{"role": "user", "content": "What is 4821 + 397?"}],
    [{"role": "user", "content": "Which is larger, 8123 or 8132?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 90 - 45?"}],
    [{"role": "user", "content": "Count: one two three four five six seven eight nine ten " * 6}],
]


def greedy_answers(c: Cluster) -> list[str]:
    cl = client(c)
    out = [None] * len(PROMPTS)

    def one(i):
        r = cl.chat.completions.create(model=MODEL_ID, messages=PROMPTS[i], max_tokens=32,
                                       temperature=0)
        m = r.choices[0].message
        out[i] = (getattr(m, "reasoning_content", None) or "") + "|" + (m.content or "")

    with concurrent.futures.ThreadPoolExecutor(len(PROMPTS)) as ex:
        list(ex.map(one, range(len(PROMPTS))))
    return out


def test_greedy_outputs_identical_for_group_sizes_1_2_4(tmp_path, model):
    results = {}
    for g in (1, 2, 4):
        c = start(tmp_path, model, g, g, name=f"g{g}")
        try:
            results[g] = greedy_answers(c)
        finally:
            c.stop()
    assert results[2] == results[1]
    assert results[4] == results[1]


# --- load ---------------------------------------------------------------------------------------

def test_64_concurrent_streams_complete_with_the_right_counts(cluster2):
    cl = client(cluster2)

    def one(i):
        n = 8 + i % 9
        stream = cl.chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": f"Stream {i}: what is {i} + 1?"}],
            max_tokens=n, temperature=0.7, seed=i, stream=True,
            stream_options={"include_usage": True})
        finish, usage, chunks = None, None, 0
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for ch in chunk.choices:
                finish = ch.finish_reason or finish
                chunks += 1
        return n, finish, usage, chunks

    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        results = list(ex.map(one, range(64)))
    assert len(results) == 64
    for n, finish, usage, chunks in results:
        assert finish in ("stop", "length")
        assert usage is not None
        if finish == "length":
            assert usage.completion_tokens == n
        else:
            assert 0 < usage.completion_tokens <= n
        assert chunks >= 1


# --- scale out ------------------------------------------------------------------------------

def test_scale_out_second_group_forms_and_serves(tmp_path, model):
    c = start(tmp_path, model, 2, 2)
    try:
        cl = client(c)
        cl.completions.create(model=MODEL_ID, prompt="warm up", max_tokens=2)
        c.add_worker("extra0")
        c.add_worker("extra1")
        c.wait_serving(2)
        status = c.status()
        assert status.count("SERVING") >= 2 or status.lower().count("serving") >= 2, status

        def one(i):
            cl.completions.create(model=MODEL_ID, prompt=f"request {i}", max_tokens=4)

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            list(ex.map(one, range(32)))
        routed = {k: v for k, v in c.metrics().items()
                  if k.startswith("r1_group_requests_routed")}
        assert len([v for v in routed.values() if v > 0]) >= 2, routed
    finally:
        c.stop()


# --- disconnect -----------------------------------------------------------------------------

def kv_usage(c: Cluster) -> float:
    return c.metrics().get("r1_kv_cache_usage_ratio", 0.0)


def test_client_disconnect_frees_the_sequence(cluster2_random):
    c = cluster2_random
    deadline = time.time() + 10
    while kv_usage(c) != 0.0 and time.time() < deadline:
        time.sleep(0.2)
    baseline = kv_usage(c)
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=60)
    body = {"model": MODEL_ID, "stream": True, "max_tokens": 3000, "temperature": 1.0,
            "messages": [{"role": "user", "content": "long answer please " * 50}]}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    events = sse_events(resp)
    for _ in range(5):
        next(events)
    # The sequence holds KV blocks while it streams.
    t0 = time.time()
    while kv_usage(c) <= baseline and time.time() - t0 < 5:
        time.sleep(0.1)
    assert kv_usage(c) > baseline
    conn.sock.shutdown(2)
    conn.close()
    t0 = time.time()
    while kv_usage(c) > baseline and time.time() - t0 < 10:
        time.sleep(0.1)
    freed_after = time.time() - t0
    print(f"disconnect: KV usage back to baseline {freed_after:.2f} s after the client closed")
    assert kv_usage(c) == baseline, f"KV not freed {freed_after:.1f} s after the disconnect"
    # Stats arrive once a second; the worker freed it at its next step.
    assert freed_after < 5


# --- malformed requests ---------------------------------------------------------------------

CHAT = "/v1/chat/completions"
COMP = "/v1/completions"
MSG = [{"role": "user", "content": "hi"}]

BAD = [
    # (path, body, expected status)
    (CHAT, b"{", 400),
    (CHAT, b"", 400),
    (CHAT, b"[]", 400),
    (CHAT, b"null", 400),
    (CHAT, b"\xff\xfe", 400),
    (CHAT, {"model": MODEL_ID}, 400),
    (CHAT, {"model": MODEL_ID, "messages": []}, 400),
    (CHAT, {"model": MODEL_ID, "messages": "hi"}, 400),
    (CHAT, {"model": MODEL_ID, "messages": [1]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": [{"role": "user"}]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": [{"role": "wizard", "content": "x"}]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": [{"role": 5, "content": "x"}]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": [{"role": "user", "content": 5}]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "max_tokens": 0}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "max_tokens": -5}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "max_tokens": "ten"}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "max_tokens": 1.5}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "max_tokens": True}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "max_completion_tokens": 0}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "temperature": -1}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "temperature": 3}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "temperature": "hot"}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "top_p": 0}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "top_p": 1.5}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "top_k": -2}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "top_k": "x"}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "seed": "x"}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "seed": 1.5}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "n": 17}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "n": 0}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "stream": "yes"}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "stop": 5}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "stop": ["a", "b", "c", "d", "e"]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "stop": [""]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "stop": [1]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "stream_options": {"include_usage": 1}}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "stream_options": "x"}, 400),
    (CHAT, {"model": "gpt-4", "messages": MSG}, 404),
    (CHAT, {"model": 7, "messages": MSG}, 400),
    (CHAT, {"model": MODEL_ID, "messages": [{"role": "user", "content": "word " * 20000}]}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "logprobs": "yes"}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "logprobs": True, "top_logprobs": 21}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "presence_penalty": 3}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "repetition_penalty": 0}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "logit_bias": {"x": 1}}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "logit_bias": {"1": 500}}, 400),
    (CHAT, {"model": MODEL_ID, "messages": MSG, "response_format": {"type": "json_schema"}}, 400),
    (COMP, b"{bad json", 400),
    (COMP, {"model": MODEL_ID}, 400),
    (COMP, {"model": MODEL_ID, "prompt": 5}, 400),
    (COMP, {"model": MODEL_ID, "prompt": [[1, 2], [3]]}, 400),
    (COMP, {"model": MODEL_ID, "prompt": [-1, 5]}, 400),
    (COMP, {"model": MODEL_ID, "prompt": [10**9]}, 400),
    (COMP, {"model": MODEL_ID, "prompt": "hi", "max_tokens": 0}, 400),
    (COMP, {"model": MODEL_ID, "prompt": "hi", "n": 99}, 400),
    (COMP, {"model": MODEL_ID, "prompt": "hi", "logprobs": 6}, 400),
    (COMP, {"model": MODEL_ID, "prompt": "hi", "best_of": 2}, 400),
    (COMP, {"model": MODEL_ID, "prompt": "hi", "echo": "x"}, 400),
    (COMP, {"model": "nope", "prompt": "hi"}, 404),
    (COMP, {"model": MODEL_ID, "prompt": "word " * 20000}, 400),
]


def test_ignore_eos_min_tokens_and_unknown_parameters_through_the_openai_client(cluster2):
    cl = client(cluster2)
    msgs = [{"role": "user", "content": "What is 2 + 3?"}]
    free = cl.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=200,
                                      temperature=0)
    assert free.choices[0].finish_reason == "stop"  # r1-tiny answers briefly
    n = free.usage.completion_tokens + 20
    forced = cl.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=n,
                                        temperature=0, extra_body={"ignore_eos": True})
    assert forced.usage.completion_tokens == n
    assert forced.choices[0].finish_reason == "length"
    held = cl.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=n, temperature=0,
                                      extra_body={"min_tokens": free.usage.completion_tokens + 5})
    assert held.usage.completion_tokens >= free.usage.completion_tokens + 5
    # chat_template_kwargs reach the checkpoint's chat template (R1's reads none of them); the
    # variables the server sets itself are refused.
    kw = cl.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=200, temperature=0,
                                    extra_body={"chat_template_kwargs": {"thinking": False}})
    assert kw.usage.prompt_tokens == free.usage.prompt_tokens
    assert kw.choices[0].message.content == free.choices[0].message.content
    for extra, param in (({"repetition_penalty": 3.0}, "repetition_penalty"),
                         ({"chat_template_kwargs": {"add_generation_prompt": False}},
                          "chat_template_kwargs"),
                         ({"reasoning_effort": "low"}, "reasoning_effort"),
                         ({"frobnicate": 1}, "frobnicate")):
        with pytest.raises(openai.BadRequestError) as e:
            cl.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=4,
                                       extra_body=extra)
        assert e.value.body["param"] == param, e.value.body


def test_n_samples_with_a_seed_reproduce_and_penalties_are_accepted(cluster2):
    """n samples are n sequences in the cluster (sample i seeded seed + i); the same request
    again gives the same choices. Penalties and logit_bias reach the workers (their effect on the
    logits is the engine's to test)."""
    cl = client(cluster2)
    msgs = [{"role": "user", "content": "Name a number."}]
    a = cl.chat.completions.create(model=MODEL_ID, messages=msgs, n=3, seed=11, temperature=1.0,
                                   max_tokens=12)
    b = cl.chat.completions.create(model=MODEL_ID, messages=msgs, n=3, seed=11, temperature=1.0,
                                   max_tokens=12)
    assert [c.index for c in a.choices] == [0, 1, 2]
    texts = [(getattr(c.message, "reasoning_content", None), c.message.content) for c in a.choices]
    assert texts == [(getattr(c.message, "reasoning_content", None), c.message.content)
                     for c in b.choices]
    assert a.usage.completion_tokens == b.usage.completion_tokens
    assert 3 <= a.usage.completion_tokens <= 3 * 12
    assert a.system_fingerprint and a.system_fingerprint == b.system_fingerprint
    greedy = cl.chat.completions.create(model=MODEL_ID, messages=msgs, n=2, temperature=0,
                                        max_tokens=12)
    assert greedy.choices[0].message.content == greedy.choices[1].message.content
    r = cl.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=8,
                                   presence_penalty=0.5, frequency_penalty=0.5,
                                   logit_bias={"5": -100},
                                   extra_body={"repetition_penalty": 1.1})
    assert r.choices[0].finish_reason in ("stop", "length")


def test_logprobs_and_logit_bias_through_the_cluster(cluster2, hf_tokenizer):
    """The engine's logprobs reach both APIs (one per generated token; greedy picks the most
    likely, so the chosen token is the first alternative), and logit_bias steers the choice
    while the logprobs stay the model's own."""
    cl = client(cluster2)
    msgs = [{"role": "user", "content": "What is 2 + 3?"}]
    r = cl.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=10, temperature=0,
                                   logprobs=True, top_logprobs=3)
    choice = r.choices[0]
    entries = choice.logprobs.content
    assert len(entries) == r.usage.completion_tokens
    text = "".join(e.token for e in entries)
    reasoning = getattr(choice.message, "reasoning_content", None) or ""
    assert text.startswith(reasoning)
    for e in entries:
        assert len(e.top_logprobs) == 3
        assert e.top_logprobs[0].token == e.token
        assert e.logprob == pytest.approx(e.top_logprobs[0].logprob)
        assert e.logprob <= 0
        assert [a.logprob for a in e.top_logprobs] == sorted(
            (a.logprob for a in e.top_logprobs), reverse=True)
    assert r.system_fingerprint.startswith("fp_r1serve_")

    b = hf_tokenizer.encode("B", add_special_tokens=False).ids[0]
    c = cl.completions.create(model=MODEL_ID, prompt="2 + 3 =", max_tokens=5, temperature=0,
                              logprobs=2, logit_bias={str(b): 100})
    lp = c.choices[0].logprobs
    assert c.choices[0].text == "B" * 5
    assert lp.tokens == ["B"] * 5 and lp.text_offset == [0, 1, 2, 3, 4]
    for logprob, alternatives in zip(lp.token_logprobs, lp.top_logprobs):
        assert alternatives["B"] == logprob and len(alternatives) <= 3
    # Reported before the bias: the model itself prefers other tokens after "2 + 3 =".
    assert any(max(a.values()) > lp_b for lp_b, a in zip(lp.token_logprobs, lp.top_logprobs))


def test_r1ctl_status_experts_reports_the_routed_load(cluster2):
    for i in range(4):
        status, body = cluster2.request("POST", "/v1/completions",
                                        {"model": MODEL_ID, "prompt": f"{i} + {i} =",
                                         "max_tokens": 8})
        assert status == 200, body
    time.sleep(1.5)  # one heartbeat carries the workers' expert counts
    out = cluster2.status("--experts")
    m = re.search(r"group \d+ experts: (\d+) assignments over (\d+) experts, max/mean ([\d.]+)", out)
    assert m, out
    assert int(m.group(1)) > 0 and int(m.group(2)) > 0 and float(m.group(3)) >= 1.0, out
    assert "experts   0- 15:" in out, out


def test_malformed_requests_get_4xx_error_objects(cluster2):
    c = cluster2
    failures = []
    for i, (path, body, want) in enumerate(BAD):
        if isinstance(body, dict) and "max_tokens" not in body:
            body = dict(body, max_tokens=4)  # a request accepted by mistake ends quickly
        try:
            status, obj = c.request("POST", path, body, timeout=30)
        except OSError as e:
            failures.append((i, path, str(body)[:80], "no response", repr(e)))
            continue
        ok = (status == want and isinstance(obj, dict) and isinstance(obj.get("error"), dict)
              and isinstance(obj["error"].get("message"), str) and obj["error"]["message"])
        if not ok:
            failures.append((i, path, body if isinstance(body, bytes) else json.dumps(body)[:80],
                             status, str(obj)[:200]))
    # Outside the JSON body: oversized body, wrong method, unknown route.
    # Oversized body: announced by Content-Length, refused before the server reads it.
    with socket.create_connection(("127.0.0.1", c.http_port), timeout=30) as s:
        s.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {9 << 20}\r\n\r\n{{".encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 413") or b'"error"' not in payload:
        failures.append(("oversized", reply[:300]))
    status, obj = c.request("GET", CHAT)
    if status != 405 or "error" not in obj:
        failures.append(("GET chat", status, str(obj)[:200]))
    status, obj = c.request("GET", "/v1/nothing")
    if status != 404 or "error" not in obj:
        failures.append(("unknown route", status, str(obj)[:200]))
    assert not failures, "\n".join(map(str, failures))
    assert len(BAD) + 3 >= 50
    # Still serving normally.
    status, obj = c.request("POST", CHAT, {"model": MODEL_ID, "messages": MSG, "max_tokens": 4})
    assert status == 200, obj
    assert obj["choices"][0]["finish_reason"] in ("stop", "length")


# --- worker failure -------------------------------------------------------------------------

def test_killed_worker_ends_its_groups_streams_and_the_other_group_serves(tmp_path,
                                                                          random_model):
    c = start(tmp_path, random_model, 2, 4)
    try:
        results = {}
        started = threading.Barrier(9)

        def stream(i):
            conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=60)
            body = {"model": MODEL_ID, "stream": True, "max_tokens": 400, "temperature": 1.0,
                    "seed": i, "messages": [{"role": "user", "content": f"tell me a story {i}"}]}
            conn.request("POST", CHAT, body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            events, error, done, t_end = 0, None, False, None
            first = True
            for ev in sse_events(resp):
                if first:
                    first = False
                    started.wait(30)
                if ev == "[DONE]":
                    done = True
                    break
                if "error" in ev:
                    error = ev["error"]
                    t_end = time.time()
                events += 1
            results[i] = (events, error, done, t_end or time.time())

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        started.wait(60)
        time.sleep(0.3)
        t_kill = time.time()
        c.kill_worker("cw0")
        for t in threads:
            t.join(60)
        assert all(not t.is_alive() for t in threads), "a stream hung after the kill"
        errored = [r for r in results.values() if r[1] is not None]
        completed = [r for r in results.values() if r[1] is None]
        assert errored, f"no stream saw the failure: {results}"
        print(f"SIGKILL: {len(errored)} streams ended with an error event after "
              f"{max(r[3] for r in errored) - t_kill:.2f} s at most; {len(completed)} completed")
        for events, error, done, t_end in errored:
            assert t_end - t_kill < 10, f"error event {t_end - t_kill:.1f} s after the kill"
            assert error.get("message")
        assert completed, "the surviving group served nothing"
        # New requests go to the surviving group.
        cl = client(c)
        for i in range(4):
            r = cl.completions.create(model=MODEL_ID, prompt=f"after {i}", max_tokens=4)
            assert r.choices[0].finish_reason in ("stop", "length")
    finally:
        c.stop()
