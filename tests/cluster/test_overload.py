"""The coordinator under overload, as processes on loopback (CTest `overload_test`, label
`cluster`): every one of 1,100 concurrent requests is answered (200, or 429/503 with an OpenAI
error body), a 64 MB body gets its 413, one client's silent connections do not lock out another
client, and with a small --max_queue_wait_s a burst beyond capacity is refused at once with 429
and Retry-After instead of queueing.

Several loopback addresses (127.0.0.x) stand for different clients: the per-client connection
limit counts by address."""

from __future__ import annotations

import asyncio
import http.client
import json
import pathlib
import resource
import socket
import time

import pytest

from cluster_util import Cluster, prepare_model

MODEL_ID = "r1-tiny"


def raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


raise_open_file_limit()  # before the coordinator starts: it inherits the limit


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> pathlib.Path:
    return prepare_model(tmp_path_factory.mktemp("model"))


def start(work: pathlib.Path, model: pathlib.Path, extra: list[str]) -> Cluster:
    """Two CPU workers in two groups of one."""
    c = Cluster(work, model, 1, extra)
    try:
        for i in range(2):
            c.add_worker(f"{work.name}w{i}")
        c.wait_serving(2)
    except Exception:
        c.stop()
        raise
    return c


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, model):
    c = start(tmp_path_factory.mktemp("overload"), model, ["--read_timeout_s=5"])
    yield c
    c.stop()


def chat_body(i: int, max_tokens: int = 4, stream: bool = False, repeat: int = 1) -> bytes:
    content = " ".join([f"What is {i} + 30? Explain step by step."] * repeat)
    return json.dumps({"model": MODEL_ID, "max_tokens": max_tokens, "stream": stream,
                       "messages": [{"role": "user", "content": content}]}).encode()


async def http_call(port: int, method: str, path: str, body: bytes = b"",
                    source: str = "127.0.0.1", timeout: float = 600):
    """One request on a new connection (Connection: close); reads until the server closes.
    Returns (status, headers, body, seconds to the first response byte). Raises on a reset, a
    timeout or a connection closed without a response."""
    t0 = time.monotonic()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), timeout)
    try:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()
        first = await asyncio.wait_for(reader.read(1), timeout)
        if not first:
            raise ConnectionError("closed without a response")
        first_byte_s = time.monotonic() - t0
        raw = first + await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    header, _, payload = raw.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        payload = dechunk(payload)
    return status, headers, payload, first_byte_s


def dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


def check_error(status: int, headers: dict, payload: bytes) -> dict:
    """An OpenAI error object with Retry-After; returns the error."""
    error = json.loads(payload)["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["type"] == ("rate_limit_error" if status == 429 else "server_error"), error
    assert int(headers["retry-after"]) >= 1, headers
    return error


def test_every_one_of_1100_concurrent_requests_is_answered(cluster):
    """1,100 at once from 8 client addresses (137 or 138 each, under the per-client limit of
    256): the coordinator's 1,024 connections are exceeded, its queues too. Each request gets
    200, or 429/503 with an OpenAI error body; none is reset or left unanswered."""
    n = 1100

    async def run():
        async def one(i):
            try:
                return await http_call(cluster.http_port, "POST", "/v1/chat/completions",
                                       chat_body(i), source=f"127.0.0.{1 + i % 8}")
            except Exception as e:  # noqa: BLE001 - counted as unanswered below
                return e
        return await asyncio.gather(*(one(i) for i in range(n)))

    t0 = time.monotonic()
    results = asyncio.run(run())
    wall = time.monotonic() - t0
    failures = [r for r in results if isinstance(r, Exception)]
    assert not failures, f"{len(failures)} unanswered, e.g. {failures[:3]!r}"
    codes: dict[int, int] = {}
    refusal_codes: dict[str, int] = {}
    for status, headers, payload, _ in results:
        codes[status] = codes.get(status, 0) + 1
        if status == 200:
            answer = json.loads(payload)
            assert answer["object"] == "chat.completion"
            assert answer["usage"]["completion_tokens"] >= 1
        else:
            assert status in (429, 503), (status, payload[:300])
            code = check_error(status, headers, payload)["code"]
            refusal_codes[str(code)] = refusal_codes.get(str(code), 0) + 1
    print(f"\n1100 concurrent: {codes} refusals {refusal_codes} in {wall:.1f} s")
    assert sum(codes.values()) == n
    assert codes.get(200, 0) > 0
    assert codes.get(429, 0) + codes.get(503, 0) > 0
    # The server keeps serving afterwards.
    status, _ = cluster.request("POST", "/v1/chat/completions",
                                json.loads(chat_body(1, max_tokens=2)))
    assert status == 200


def test_a_64_mb_body_gets_its_413(cluster):
    """http.client writes the whole body before it reads: the 413 (sent after the header)
    must still reach it rather than a connection reset."""
    body = b'{"model":"r1-tiny","messages":[{"role":"user","content":"' + b"x" * (64 << 20) + b'"}]}'
    conn = http.client.HTTPConnection("127.0.0.1", cluster.http_port, timeout=60)
    t0 = time.monotonic()
    try:
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        payload = r.read()
    finally:
        conn.close()
    print(f"\n64 MB body: {r.status} in {time.monotonic() - t0:.2f} s")
    assert r.status == 413
    assert json.loads(payload)["error"]["code"] == "request_too_large"


def test_silent_connections_from_one_client_do_not_lock_out_another(cluster):
    """2,000 silent connections from 127.0.0.20 (an address no other test uses): 256 (its share)
    are held until the read timeout (5 s here), the rest are refused with 429 at once.
    Meanwhile 127.0.0.1 is served."""
    n = 2000
    socks = []
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.20", 0))
        s.connect(("127.0.0.1", cluster.http_port))
        socks.append(s)
    connect_s = time.monotonic() - t0
    try:
        # Another client, at once.
        t1 = time.monotonic()
        status, models = cluster.request("GET", "/v1/models", timeout=10)
        assert status == 200, models
        status, answer = cluster.request("POST", "/v1/chat/completions",
                                         json.loads(chat_body(7, max_tokens=2)), timeout=30)
        assert status == 200, answer
        other_s = time.monotonic() - t1
        # What the silent client got: 429 for all but its share, and the held ones closed by the
        # read timeout without an answer.
        refused, closed_silently = 0, 0
        deadline = time.monotonic() + 30
        for s in socks:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except (socket.timeout, ConnectionResetError):
                pass
            if data.startswith(b"HTTP/1.1 429"):
                head, _, payload = data.partition(b"\r\n\r\n")
                assert b"Retry-After: " in head
                assert json.loads(payload)["error"]["code"] == "too_many_client_connections"
                refused += 1
            elif not data:
                closed_silently += 1
        held_s = time.monotonic() - t0
    finally:
        for s in socks:
            s.close()
    print(f"\n{n} silent: connected in {connect_s:.2f} s, other client served in {other_s:.2f} s, "
          f"{refused} refused 429, {closed_silently} closed by the read timeout after "
          f"{held_s:.1f} s")
    assert refused == n - 256
    assert closed_silently == 256
    assert other_s < 10


def test_a_burst_beyond_capacity_is_refused_at_once(tmp_path, model):
    """--max_queue_wait_s=1: a first burst (admitted whole: nothing is known yet) teaches the
    coordinator each worker's drain rate; of the next burst, what would wait longer than 1 s
    for its first token gets 429 with Retry-After at once instead of queueing."""
    c = start(tmp_path / "shed", model, ["--max_queue_wait_s=1"])
    try:
        async def burst(n, tag):
            async def one(i):
                return await http_call(c.http_port, "POST", "/v1/chat/completions",
                                       chat_body(tag * 1000 + i, max_tokens=4, stream=True,
                                                 repeat=10))
            return await asyncio.gather(*(one(i) for i in range(n)))

        t0 = time.monotonic()
        warm = asyncio.run(burst(200, 1))
        warm_s = time.monotonic() - t0
        t0 = time.monotonic()
        results = asyncio.run(burst(200, 2))
        burst_s = time.monotonic() - t0
        refused = [r for r in results if r[0] == 429]
        served = [r for r in results if r[0] == 200]
        assert len(refused) + len(served) == len(results), [r[0] for r in results]
        for status, headers, payload, _ in refused:
            error = check_error(status, headers, payload)
            assert "queue" in error["message"], error
        for _, _, payload, _ in served:
            assert b"data: [DONE]" in payload
        refuse_s = sorted(r[3] for r in refused)
        print(f"\nwarm-up: 200 in {warm_s:.1f} s ({sum(r[0] == 200 for r in warm)} served); "
              f"burst of 200 in {burst_s:.1f} s: {len(served)} served, {len(refused)} refused "
              f"(429 after p50 {refuse_s[len(refuse_s) // 2] if refuse_s else 0:.3f} s, "
              f"max {refuse_s[-1] if refuse_s else 0:.3f} s; Retry-After "
              f"{sorted({r[1]['retry-after'] for r in refused})})")
        assert len(refused) >= 40
        assert refuse_s[-1] < 3
        metrics = c.metrics()
        assert metrics.get('r1_request_rejections_total{reason="queue_full"}', 0) >= len(refused)
    finally:
        c.stop()
