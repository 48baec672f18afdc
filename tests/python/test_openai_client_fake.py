"""The official `openai` Python client (pinned in requirements/test.txt) against r1-http-fake-server:
the coordinator's OpenAI HTTP API over a scripted generator (coordinator/testing/fake_server_main.cc).

Chat streaming and not, completions, reasoning_content split at </think>, stop strings, usage equal
to the tokenizer's counts (Hugging Face `tokenizers` on the same tokenizer.json), error objects
surfacing as the client's exceptions, API keys, and a client that goes away mid-stream; logprobs and
top_logprobs (chat and completions, streamed and not: the fake generator reports deterministic
values, so these check the shapes the client parses), n samples, penalties, logit_bias and
system_fingerprint, and each out-of-range value of them refused by name."""

from __future__ import annotations

import json
import pathlib
import subprocess
import time

import urllib.error
import urllib.request

import openai
import pytest
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "models" / "r1-tiny" / "tokenizer.json"
MODEL = "r1-tiny"
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    """A plain HTTP request (status, body text), errors included."""
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class FakeServer:
    """Starts r1-http-fake-server on port 0 and reads the port it prints."""

    def __init__(self, build_dir: pathlib.Path, *args: str):
        binary = build_dir / "coordinator" / "testing" / "r1-http-fake-server"
        assert binary.exists(), f"build r1-http-fake-server first (missing {binary})"
        self.proc = subprocess.Popen(
            [str(binary), f"--tokenizer={TOKENIZER}", "--port=0", f"--model_id={MODEL}", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("http_port="), f"unexpected first line {line!r}: " + (
            self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.port = int(line.split("=", 1)[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stop(self):
        self.proc.terminate()
        try:
            assert self.proc.wait(timeout=10) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(build_dir):
    s = FakeServer(build_dir, "--token_delay_ms=1")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=30)


@pytest.fixture(scope="module")
def hf():
    return Tokenizer.from_file(str(TOKENIZER))


def chat_prompt_tokens(hf, user: str) -> int:
    # R1's template for one user message with the generation prompt; the typed text is encoded
    # with special tokens unmatched, as the server does.
    text = f"{BOS}<｜User｜>{user}<｜Assistant｜><think>\n"
    return len(hf.encode(text, add_special_tokens=False).ids)


def fake_chat_reply(user: str) -> tuple[str, str]:
    """What the fake server's script answers to a chat (see fake_server_main.cc)."""
    return f"Okay, the user wrote: {user}.", f"\n\nHello! You said: {user}"


def reply_tokens(hf, reasoning: str, content: str) -> int:
    return len(hf.encode(f"{reasoning}</think>{content}", add_special_tokens=False).ids) + 1  # EOS


def test_models(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL


def test_chat_non_streaming(client, hf):
    user = "What is the capital of France?"
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}],
                                       temperature=0.6, top_p=0.95, seed=1)
    reasoning, content = fake_chat_reply(user)
    choice = r.choices[0]
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == content
    assert choice.message.reasoning_content == reasoning  # extra field, kept by the client
    assert r.usage.prompt_tokens == chat_prompt_tokens(hf, user)
    assert r.usage.completion_tokens == reply_tokens(hf, reasoning, content)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_streaming_with_usage(client, hf):
    user = "Tell me a joke"
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": user}], stream=True,
        stream_options={"include_usage": True})
    reasoning, content, finish, usage, ids = "", "", None, None, set()
    for chunk in stream:
        ids.add(chunk.id)
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
            continue
        delta = chunk.choices[0].delta
        reasoning += getattr(delta, "reasoning_content", None) or ""
        content += delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    want_reasoning, want_content = fake_chat_reply(user)
    assert len(ids) == 1
    assert (reasoning, content, finish) == (want_reasoning, want_content, "stop")
    assert usage.prompt_tokens == chat_prompt_tokens(hf, user)
    assert usage.completion_tokens == reply_tokens(hf, want_reasoning, want_content)


def test_chat_stop_and_max_tokens(client):
    user = "stop test"
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}],
                                       stop=["said"])
    assert r.choices[0].message.content == "\n\nHello! You "
    assert r.choices[0].finish_reason == "stop"
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}],
                                       max_completion_tokens=3)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 3
    assert r.choices[0].message.content == ""
    assert r.choices[0].message.reasoning_content


def test_completions(client, hf):
    prompt = "Once upon a time"
    r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=50)
    text = " and that is the end of the story."
    assert r.object == "text_completion"
    assert r.choices[0].text == text
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == len(hf.encode(prompt, add_special_tokens=True).ids)
    assert r.usage.completion_tokens == len(hf.encode(text, add_special_tokens=False).ids) + 1
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt=prompt, stream=True) if c.choices)
    assert streamed == text


def test_errors_are_client_exceptions(client):
    ok_messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o", messages=ok_messages)
    assert e.value.status_code == 404
    assert e.value.body["code"] == "model_not_found"
    assert e.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=ok_messages, max_tokens=0)
    assert e.value.body["param"] == "max_tokens"
    assert e.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=ok_messages, n=17)
    assert (e.value.body["param"], e.value.body["code"]) == ("n", "invalid_value")
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[])
    assert e.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "robot", "content": "x"}])
    assert e.value.body["param"] == "messages[0].role"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=ok_messages, max_tokens=100000)
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt="x", logprobs=6)
    assert e.value.body["param"] == "logprobs"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=ok_messages, stop=["a"] * 5)
    assert e.value.body["param"] == "stop"
    # Still serving.
    assert client.chat.completions.create(model=MODEL, messages=ok_messages).choices


def test_client_disconnect_mid_stream(server, client):
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "[[forever]]"}], stream=True)
    for i, _ in enumerate(stream):
        if i == 5:
            break
    stream.close()
    # The fake server's cancellation shows in the metrics.
    deadline = time.time() + 5
    while time.time() < deadline:
        metrics = http("GET", f"http://127.0.0.1:{server.port}/metrics")[1]
        if "r1_request_cancellations_total 1" in metrics:
            break
        time.sleep(0.05)
    assert "r1_request_cancellations_total 1" in metrics
    assert "r1_http_requests_running 0" in metrics


def test_api_keys(build_dir, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("# test keys\nsk-test-one\nsk-test-two\n")
    s = FakeServer(build_dir, f"--api_keys_file={keys}")
    try:
        bad = openai.OpenAI(base_url=s.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as e:
            bad.models.list()
        assert e.value.body["code"] == "invalid_api_key"
        good = openai.OpenAI(base_url=s.base_url, api_key="sk-test-two", max_retries=0)
        r = good.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == fake_chat_reply("hi")[1]
        assert http("GET", f"http://127.0.0.1:{s.port}/live")[0] == 200
        assert http("GET", f"http://127.0.0.1:{s.port}/ready") == (200, '{"status":"ready"}')
    finally:
        s.stop()


def test_raw_error_object_shape(server):
    status, text = http("POST", f"{server.base_url}/chat/completions", b"{not json")
    assert status == 400
    body = json.loads(text)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "invalid_json"
    assert body["error"]["param"] is None


# --- logprobs, n, penalties, logit_bias, system_fingerprint --------------------------------------

def check_chat_logprobs(entries, top: int):
    for e in entries:
        assert isinstance(e.token, str)
        assert e.logprob <= 0
        assert bytes(e.bytes).decode("utf-8", errors="replace") == e.token
        assert len(e.top_logprobs) == top
        for alt in e.top_logprobs:
            assert isinstance(alt.token, str) and alt.logprob <= 0 and isinstance(alt.bytes, list)
        if top:
            assert e.top_logprobs[0].token == e.token  # the fake's first alternative
            assert [a.logprob for a in e.top_logprobs] == sorted(
                (a.logprob for a in e.top_logprobs), reverse=True)


def test_chat_logprobs(client, hf):
    user = "Give me logprobs"
    reasoning, content = fake_chat_reply(user)
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}],
                                       logprobs=True, top_logprobs=3)
    entries = r.choices[0].logprobs.content
    # One entry per generated token (EOS included, as usage counts it); they spell the output.
    assert len(entries) == r.usage.completion_tokens == reply_tokens(hf, reasoning, content)
    assert "".join(e.token for e in entries) == f"{reasoning}</think>{content}{EOS}"
    check_chat_logprobs(entries, 3)

    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": user}], logprobs=True, top_logprobs=3,
        stream=True)
    streamed = []
    for chunk in stream:
        for ch in chunk.choices:
            if ch.logprobs is not None:
                streamed.extend(ch.logprobs.content)
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in entries]

    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}],
                                       logprobs=True)
    check_chat_logprobs(r.choices[0].logprobs.content, 0)
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}])
    assert r.choices[0].logprobs is None


def check_completion_logprobs(lp, top: int):
    n = len(lp.tokens)
    assert len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    offset = 0
    for token, logprob, alternatives, at in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs,
                                                lp.text_offset):
        assert at == offset
        offset += len(token)
        assert logprob <= 0
        # The requested alternatives and the sampled token: up to logprobs + 1 entries.
        assert token in alternatives and alternatives[token] == logprob
        assert 1 <= len(alternatives) <= top + 1


def test_completions_logprobs(client, hf):
    prompt = "Once upon a time"
    text = " and that is the end of the story."
    r = client.completions.create(model=MODEL, prompt=prompt, logprobs=2)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == r.usage.completion_tokens
    assert "".join(lp.tokens) == text + EOS
    check_completion_logprobs(lp, 2)

    tokens, offsets = [], []
    for chunk in client.completions.create(model=MODEL, prompt=prompt, logprobs=2, stream=True):
        for ch in chunk.choices:
            if ch.logprobs is not None:
                tokens += ch.logprobs.tokens
                offsets += ch.logprobs.text_offset
    assert (tokens, offsets) == (lp.tokens, lp.text_offset)
    r = client.completions.create(model=MODEL, prompt=prompt, logprobs=0)
    check_completion_logprobs(r.choices[0].logprobs, 0)
    assert client.completions.create(model=MODEL, prompt=prompt).choices[0].logprobs is None


def test_n_samples(client):
    user = "several please"
    reasoning, content = fake_chat_reply(user)
    one = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}])
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": user}],
                                       n=3, seed=7, temperature=1.0)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(c.message.content == content and c.finish_reason == "stop" for c in r.choices)
    assert r.usage.prompt_tokens == one.usage.prompt_tokens
    assert r.usage.completion_tokens == 3 * one.usage.completion_tokens

    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": user}], n=2, stream=True,
        stream_options={"include_usage": True})
    got, finishes, usage = {0: "", 1: ""}, {}, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            got[ch.index] += ch.delta.content or ""
            if ch.finish_reason:
                finishes[ch.index] = ch.finish_reason
    assert got == {0: content, 1: content}
    assert finishes == {0: "stop", 1: "stop"}
    assert usage.completion_tokens == 2 * one.usage.completion_tokens

    r = client.completions.create(model=MODEL, prompt="x", n=2, best_of=2)
    assert len(r.choices) == 2


def test_penalties_logit_bias_and_fingerprint(client):
    msgs = [{"role": "user", "content": "hi"}]
    r = client.chat.completions.create(
        model=MODEL, messages=msgs, presence_penalty=0.5, frequency_penalty=-0.5,
        logit_bias={"5": -100, "17": 2.5}, extra_body={"repetition_penalty": 1.1})
    assert r.choices[0].message.content == fake_chat_reply("hi")[1]
    assert r.system_fingerprint.startswith("fp_r1serve_")
    c = client.completions.create(model=MODEL, prompt="x", presence_penalty=1, logit_bias={"9": 1})
    assert c.system_fingerprint == r.system_fingerprint
    for chunk in client.chat.completions.create(model=MODEL, messages=msgs, stream=True):
        assert chunk.system_fingerprint == r.system_fingerprint


@pytest.mark.parametrize("kwargs,param,code", [
    ({"presence_penalty": 2.5}, "presence_penalty", "invalid_value"),
    ({"frequency_penalty": -3}, "frequency_penalty", "invalid_value"),
    ({"extra_body": {"repetition_penalty": 0}}, "repetition_penalty", "invalid_value"),
    ({"extra_body": {"repetition_penalty": 2.5}}, "repetition_penalty", "invalid_value"),
    ({"logit_bias": {"x": 1}}, "logit_bias", "invalid_value"),
    ({"logit_bias": {"1": 101}}, "logit_bias", "invalid_value"),
    ({"logit_bias": {"100000000": 1}}, "logit_bias", "invalid_value"),
    ({"logit_bias": {str(i): 1 for i in range(301)}}, "logit_bias", "invalid_value"),
    ({"top_logprobs": 2}, "top_logprobs", "invalid_value"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "invalid_value"),
    ({"n": 0}, "n", "invalid_value"),
    ({"n": 2, "extra_body": {"best_of": 3}}, "best_of", "unsupported_parameter"),
])
def test_chat_sampling_refusals_name_the_parameter(client, kwargs, param, code):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                       **kwargs)
    assert (e.value.body["param"], e.value.body["code"]) == (param, code), e.value.body


@pytest.mark.parametrize("kwargs,param,code", [
    ({"logprobs": 6}, "logprobs", "invalid_value"),
    ({"logprobs": -1}, "logprobs", "invalid_value"),
    ({"logprobs": 1, "extra_body": {"top_logprobs": 1}}, "top_logprobs", "unsupported_parameter"),
    ({"best_of": 2}, "best_of", "unsupported_parameter"),
    ({"logprobs": 1, "echo": True}, "echo", "unsupported_parameter"),
    ({"n": 17}, "n", "invalid_value"),
])
def test_completion_sampling_refusals_name_the_parameter(client, kwargs, param, code):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt="x", **kwargs)
    assert (e.value.body["param"], e.value.body["code"]) == (param, code), e.value.body
