"""The official `openai` Python client (pinned in requirements/test.txt) against r1-http-fake-server:
the coordinator's OpenAI HTTP API over a scripted generator (coordinator/http/fake_server_main.cc).

Chat streaming and not, completions, reasoning_content split at </think>, stop strings, usage equal
to the tokenizer's counts (Hugging Face `tokenizers` on the same tokenizer.json), error objects
surfacing as the client's exceptions, API keys, and a client that goes away mid-stream."""

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
        binary = build_dir / "coordinator" / "http" / "r1-http-fake-server"
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
        client.chat.completions.create(model=MODEL, messages=ok_messages, n=2)
    assert e.value.body["code"] == "unsupported_parameter"
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
        client.completions.create(model=MODEL, prompt="x", logprobs=2)
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
