"""Soak test: a local cluster (r1-coordinator + 4 CPU r1-workers in 2 groups of 2, serving
models/r1-tiny) under SOAK_SECONDS (default 600) of mixed OpenAI traffic from SOAK_CONCURRENCY
(default 16) clients, then checks that nothing leaked and nothing hung. CTest `soak_test`
(label `soak`, not part of scripts/test.sh); by hand:

    R1_BUILD_DIR=build SOAK_SECONDS=600 .venv/bin/python tests/soak/soak.py [--json out.json]

Traffic, per request: 1 % malformed (bad JSON, wrong types, unknown model, bad UTF-8, too deep,
wrong Content-Type, not HTTP at all; each must get its 4xx), 10 % streams cancelled by closing
the socket (half of them with a reset) after the first delta or a short random time, the rest
chat and completions requests, streaming or not, with 16..96 new tokens.

Every few seconds it records the RSS (/proc/<pid>/status VmRSS) of every process. It fails when
  - any response is a 5xx, a malformed request is not answered 4xx, or a normal request does not
    end properly (200 with a finish_reason; a stream with its [DONE]);
  - any request hangs: not finished within HANG_BOUND_S seconds (a socket silent for 60 s counts);
  - a process exits;
  - after the warm-up (the first 20 % of the time) a process's RSS grows by 5 % or more (the
    median of three samples at the end of the warm-up against the median of the last three);
  - KV cache usage does not return to 0 once the load stops (the coordinator's
    r1_kv_cache_usage_ratio and every worker's r1_worker_kv_cache_blocks{state="used"}, read from
    the metrics port each worker prints as metrics_port=N; the peak during the load is reported).
It prints a summary (and writes it as JSON with --json); the work directory with every process's
log is kept when it fails.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import pathlib
import random
import re
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "cluster"))
from cluster_util import Cluster, prepare_model  # noqa: E402

MODEL_ID = "r1-tiny"
HANG_BOUND_S = 120.0      # a request not finished by then has hung
SOCKET_TIMEOUT_S = 60.0   # a socket silent this long: hung too
SAMPLE_S = 5.0            # RSS sampling period
WARMUP_FRACTION = 0.2
MAX_RSS_GROWTH = 0.05
MALFORMED_FRACTION = 0.01
CANCEL_FRACTION = 0.10


# --- HTTP on raw sockets (so that a client can cut a stream exactly as it wants) ---------------

def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S)
    s.settimeout(SOCKET_TIMEOUT_S)
    return s


def request_bytes(path: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def read_all(s: socket.socket, deadline: float) -> bytes:
    out = b""
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("request exceeded the hang bound")
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, de-chunked body) of one HTTP/1.1 response."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"no complete response header in {raw[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return int(m.group(1)), headers, body


def sse_payloads(body: bytes) -> list[str]:
    return [line[6:].decode() for event in body.split(b"\n\n") for line in event.split(b"\n")
            if line.startswith(b"data: ")]


# --- the traffic ---------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.mu = threading.Lock()
        self.by_kind = collections.Counter()      # normal_chat, normal_completion, cancel, malformed
        self.by_status = collections.Counter()    # HTTP status of every answered request
        self.failures: list[str] = []             # what went wrong, first ones in full
        self.failure_count = 0
        self.hangs = 0
        self.five_xx = 0
        self.cancelled_after_delta = 0
        self.cancel_resets = 0
        self.latencies: list[float] = []
        self.completion_tokens = 0

    def fail(self, what: str) -> None:
        with self.mu:
            self.failure_count += 1
            if len(self.failures) < 30:
                self.failures.append(what)


def chat_body(rng: random.Random, stream: bool, max_tokens: int) -> dict:
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    op = rng.choice(["+", "-", "*"])
    body = {"model": MODEL_ID, "stream": stream, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": f"What is {a} {op} {b}?"}]}
    if rng.random() < 0.3:
        body["temperature"] = round(rng.uniform(0.0, 1.0), 2)
        body["seed"] = rng.randint(0, 1 << 30)
    if stream and rng.random() < 0.5:
        body["stream_options"] = {"include_usage": True}
    return body


def malformed_request(rng: random.Random) -> tuple[str, bytes, tuple[int, ...]]:
    """(name, raw bytes, accepted statuses)."""
    user = [{"role": "user", "content": "hi"}]
    cases = [
        ("invalid_json", request_bytes("/v1/chat/completions", b'{"model":"r1-tiny","messages":['),
         (400,)),
        ("messages_not_array", request_bytes(
            "/v1/chat/completions", json.dumps({"model": MODEL_ID, "messages": "hi"}).encode()),
         (400,)),
        ("unknown_model", request_bytes(
            "/v1/chat/completions", json.dumps({"model": "gpt-9", "messages": user}).encode()),
         (404,)),
        ("bad_temperature", request_bytes(
            "/v1/completions",
            json.dumps({"model": MODEL_ID, "prompt": "x", "temperature": 7}).encode()), (400,)),
        ("invalid_utf8", request_bytes(
            "/v1/chat/completions",
            b'{"model":"r1-tiny","messages":[{"role":"user","content":"\xff\xfe"}]}'), (400,)),
        ("too_deep", request_bytes("/v1/completions", b'{"x":' + b"[" * 100 + b"]" * 100 + b"}"),
         (400,)),
        ("wrong_content_type", request_bytes(
            "/v1/chat/completions", json.dumps({"model": MODEL_ID, "messages": user}).encode(),
            "text/plain"), (415,)),
        ("token_id_out_of_range", request_bytes(
            "/v1/completions", json.dumps({"model": MODEL_ID, "prompt": [1, 99999999]}).encode()),
         (400,)),
        ("not_http", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 garbage\r\n\r\n", (400,)),
    ]
    return rng.choice(cases)


def run_malformed(port: int, rng: random.Random, stats: Stats) -> None:
    name, raw, ok_statuses = malformed_request(rng)
    with stats.mu:
        stats.by_kind["malformed"] += 1
    s = connect(port)
    try:
        s.sendall(raw)
        status, _, body = parse_response(read_all(s, time.monotonic() + HANG_BOUND_S))
    finally:
        s.close()
    record_status(stats, status)
    if status not in ok_statuses:
        stats.fail(f"malformed {name}: status {status} (want {ok_statuses}): {body[:300]!r}")


def record_status(stats: Stats, status: int) -> None:
    with stats.mu:
        stats.by_status[status] += 1
        if status >= 500:
            stats.five_xx += 1


def run_cancel(port: int, rng: random.Random, stats: Stats) -> None:
    """A long stream, cut after its first delta or after a short random time."""
    with stats.mu:
        stats.by_kind["cancel"] += 1
    body = json.dumps(chat_body(rng, True, rng.randint(128, 256))).encode()
    s = connect(port)
    reset = rng.random() < 0.5
    cut_after = rng.uniform(0.05, 1.5)
    t0 = time.monotonic()
    try:
        s.sendall(request_bytes("/v1/chat/completions", body))
        got = b""
        s.settimeout(0.05)
        while time.monotonic() - t0 < cut_after:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            got += chunk
            if re.search(rb'"(reasoning_content|content)": ?"[^"]', got):
                with stats.mu:
                    stats.cancelled_after_delta += 1
                break
        m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
        if m:
            record_status(stats, int(m.group(1)))
            if int(m.group(1)) >= 500:
                stats.fail(f"cancelled stream answered {got[:300]!r}")
    finally:
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with stats.mu:
                stats.cancel_resets += 1
        s.close()


def run_normal(port: int, rng: random.Random, stats: Stats) -> None:
    stream = rng.random() < 0.5
    max_tokens = rng.randint(16, 96)
    chat = rng.random() < 0.8
    if chat:
        path, body = "/v1/chat/completions", chat_body(rng, stream, max_tokens)
    else:
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        path = "/v1/completions"
        body = {"model": MODEL_ID, "stream": stream, "max_tokens": max_tokens,
                "prompt": f"<｜User｜>What is {a} + {b}?<｜Assistant｜><think>\n"}
    with stats.mu:
        stats.by_kind["normal_chat" if chat else "normal_completion"] += 1
    t0 = time.monotonic()
    s = connect(port)
    try:
        s.sendall(request_bytes(path, json.dumps(body).encode()))
        raw = read_all(s, t0 + HANG_BOUND_S)
    finally:
        s.close()
    status, headers, payload = parse_response(raw)
    record_status(stats, status)
    if status == 429:
        time.sleep(min(2.0, float(headers.get("retry-after", "1"))))
        return
    if status != 200:
        stats.fail(f"{path} stream={stream}: status {status}: {payload[:300]!r}")
        return
    if stream:
        events = sse_payloads(payload)
        if not events or events[-1] != "[DONE]":
            stats.fail(f"{path} stream without [DONE]: {events[-3:]}")
            return
        finishes = [c.get("finish_reason") for e in events[:-1]
                    for c in json.loads(e).get("choices", []) if c.get("finish_reason")]
        usage = [json.loads(e)["usage"] for e in events[:-1]
                 if json.loads(e).get("usage")]
        if finishes != ["stop"] and finishes != ["length"]:
            stats.fail(f"{path} stream finish reasons {finishes}: {events[-3:]}")
            return
        tokens = usage[-1]["completion_tokens"] if usage else 0
    else:
        j = json.loads(payload)
        if j["choices"][0]["finish_reason"] not in ("stop", "length"):
            stats.fail(f"{path}: finish_reason {j['choices'][0]['finish_reason']}")
            return
        tokens = j["usage"]["completion_tokens"]
    with stats.mu:
        stats.latencies.append(time.monotonic() - t0)
        stats.completion_tokens += tokens


def client(port: int, seed: int, stop_at: float, stats: Stats) -> None:
    rng = random.Random(seed)
    while time.monotonic() < stop_at:
        x = rng.random()
        kind = ("malformed" if x < MALFORMED_FRACTION else
                "cancel" if x < MALFORMED_FRACTION + CANCEL_FRACTION else "normal")
        t0 = time.monotonic()
        try:
            {"malformed": run_malformed, "cancel": run_cancel, "normal": run_normal}[kind](
                port, rng, stats)
        except (TimeoutError, socket.timeout) as e:
            with stats.mu:
                stats.hangs += 1
            stats.fail(f"{kind}: hung ({e}) after {time.monotonic() - t0:.1f} s")
        except Exception as e:  # noqa: BLE001 - every other client-side failure is recorded
            stats.fail(f"{kind}: {type(e).__name__}: {e}")
        if time.monotonic() - t0 > HANG_BOUND_S:
            with stats.mu:
                stats.hangs += 1
            stats.fail(f"{kind}: took {time.monotonic() - t0:.1f} s")


# --- processes and metrics ------------------------------------------------------------------

def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scrape(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def metric_sum(text: str, name: str, must_contain: str = "") -> float | None:
    """The sum of a metric's samples (None when it is absent)."""
    total = None
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in "{ " and must_contain in line:
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def worker_metrics_port(cluster: Cluster, name: str, timeout: float = 60) -> int:
    """The port a worker printed as metrics_port=N (its stdout goes to its log)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(r"^metrics_port=(\d+)$", (cluster.work / f"{name}.log").read_text(
            errors="replace"), re.M)
        if m:
            return int(m.group(1))
        time.sleep(0.2)
    raise RuntimeError(f"worker {name} printed no metrics_port")


def kv_state(cluster: Cluster, worker_ports: dict[str, int]) -> dict[str, float]:
    out = {"coordinator_kv_usage_ratio": metric_sum(scrape(cluster.http_port),
                                                    "r1_kv_cache_usage_ratio")}
    for name, port in worker_ports.items():
        out[f"{name}_kv_blocks_used"] = metric_sum(scrape(port), "r1_worker_kv_cache_blocks",
                                                   'state="used"')
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    ap.add_argument("--concurrency", type=int,
                    default=int(os.environ.get("SOAK_CONCURRENCY", 16)))
    ap.add_argument("--json", type=pathlib.Path, help="write the summary here")
    ap.add_argument("--work", type=pathlib.Path, help="work directory (default: a new temp dir)")
    args = ap.parse_args()

    work = args.work or pathlib.Path(tempfile.mkdtemp(prefix="r1-soak-"))
    model = prepare_model(work)
    cluster = Cluster(work / "cluster", model, 2)
    ok = False
    try:
        names = [f"w{i}" for i in range(4)]
        for n in names:
            cluster.add_worker(n)
        cluster.wait_serving(2, timeout=180)
        worker_ports = {n: worker_metrics_port(cluster, n) for n in names}
        procs = {"coordinator": cluster.coordinator.pid,
                 **{n: cluster.workers[n].pid for n in names}}
        print(f"soak: cluster up (2 groups of 2 CPU workers, {model}); "
              f"{args.seconds:.0f} s with {args.concurrency} clients; work dir {work}",
              flush=True)

        stats = Stats()
        samples: list[tuple[float, dict[str, int]]] = []
        t_start = time.monotonic()
        stop_at = t_start + args.seconds
        threads = [threading.Thread(target=client, args=(cluster.http_port, 1000 + i, stop_at,
                                                         stats), daemon=True)
                   for i in range(args.concurrency)]
        for t in threads:
            t.start()
        next_report = t_start + 60
        kv_peak: dict[str, float] = {}
        while time.monotonic() < stop_at:
            samples.append((time.monotonic() - t_start,
                            {n: rss_kb(pid) for n, pid in procs.items()}))
            for k, v in kv_state(cluster, worker_ports).items():
                kv_peak[k] = max(kv_peak.get(k, 0.0), v or 0.0)
            if time.monotonic() >= next_report:
                with stats.mu:
                    print(f"soak: t={time.monotonic() - t_start:.0f}s "
                          f"requests={sum(stats.by_kind.values())} "
                          f"status={dict(stats.by_status)} failures={stats.failure_count} "
                          f"rss_mb={ {n: v // 1024 for n, v in samples[-1][1].items()} }",
                          flush=True)
                next_report += 60
            time.sleep(SAMPLE_S)
        load_end = time.monotonic() - t_start
        for t in threads:
            t.join(HANG_BOUND_S + 10)
        stuck_clients = sum(t.is_alive() for t in threads)
        drained_s = time.monotonic() - t_start - load_end

        # KV back to 0: the coordinator learns the workers' usage from their heartbeats.
        kv = {}
        kv_deadline = time.monotonic() + 60
        while time.monotonic() < kv_deadline:
            kv = kv_state(cluster, worker_ports)
            if all(v is not None and v == 0 for v in kv.values()):
                break
            time.sleep(1)
        exited = [n for n, p in [("coordinator", cluster.coordinator), *cluster.workers.items()]
                  if p.poll() is not None]

        # RSS: median of three samples at the end of the warm-up against the last three.
        warm_t = WARMUP_FRACTION * args.seconds
        load_samples = [s for s in samples if s[0] <= load_end]
        warm_idx = next((i for i, s in enumerate(load_samples) if s[0] >= warm_t),
                        len(load_samples) - 1)
        rss = {}
        for n in procs:
            warm = statistics.median(s[1][n] for s in load_samples[warm_idx:warm_idx + 3])
            end = statistics.median(s[1][n] for s in load_samples[-3:])
            rss[n] = {"start_kb": load_samples[0][1][n], "warm_kb": int(warm), "end_kb": int(end),
                      "max_kb": max(s[1][n] for s in load_samples),
                      "growth_after_warmup": round((end - warm) / warm, 4) if warm else None}

        lat = sorted(stats.latencies)
        summary = {
            "seconds": args.seconds, "concurrency": args.concurrency,
            "requests": sum(stats.by_kind.values()), "by_kind": dict(stats.by_kind),
            "by_status": {str(k): v for k, v in sorted(stats.by_status.items())},
            "cancels": stats.by_kind["cancel"], "cancels_after_first_delta":
                stats.cancelled_after_delta, "cancels_with_reset": stats.cancel_resets,
            "malformed": stats.by_kind["malformed"], "five_xx": stats.five_xx,
            "hangs": stats.hangs, "stuck_clients": stuck_clients,
            "client_failures": stats.failure_count, "failures": stats.failures,
            "completion_tokens": stats.completion_tokens,
            "latency_s": {"p50": round(lat[len(lat) // 2], 3) if lat else None,
                          "p99": round(lat[int(len(lat) * 0.99)], 3) if lat else None,
                          "max": round(lat[-1], 3) if lat else None},
            "drain_after_load_s": round(drained_s, 1),
            "rss": rss, "rss_samples": len(load_samples), "kv_peak_during_load": kv_peak,
            "kv_at_end": kv,
            "exited_processes": exited,
        }
        problems = []
        if stats.five_xx:
            problems.append(f"{stats.five_xx} 5xx responses")
        if stats.hangs or stuck_clients:
            problems.append(f"{stats.hangs} hung requests, {stuck_clients} stuck clients")
        if stats.failure_count:
            problems.append(f"{stats.failure_count} failed requests")
        if exited:
            problems.append(f"processes exited: {exited}")
        for n, r in rss.items():
            if r["growth_after_warmup"] is None or r["growth_after_warmup"] >= MAX_RSS_GROWTH:
                problems.append(f"{n}: RSS grew {r['growth_after_warmup']} after the warm-up")
        if any(v is None or v != 0 for v in kv.values()):
            problems.append(f"KV usage not back to 0: {kv}")
        summary["problems"] = problems
        text = json.dumps(summary, indent=2)
        print(text, flush=True)
        if args.json:
            args.json.write_text(text + "\n")
        ok = not problems
        print("soak: PASSED" if ok else "soak: FAILED: " + "; ".join(problems), flush=True)
        return 0 if ok else 1
    finally:
        cluster.stop()
        if ok and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        elif not ok:
            print(f"soak: logs kept in {work}\n" + cluster.log_tail(), flush=True)


if __name__ == "__main__":
    sys.exit(main())
