#!/usr/bin/env python3
"""Multi-turn chat against a local CPU cluster (r1-coordinator + r1-worker processes serving
models/r1-tiny): N users share one system prompt and each holds a conversation of T turns, every
turn's prompt being the previous one plus the assistant's reply and a new user message. Prints the
time to first token (TTFT) per mode, split into the first turn and the later ones, the workers'
prefix cache hit rate (r1_worker_prefix_cache_hits_total / queries_total) and the coordinator's
routing decisions (r1_routing_decisions_total).

Modes (--modes, comma-separated):
  cache     prefix caching on the workers, prefix-aware routing on the coordinator (the default)
  noaffin   prefix caching on, prefix-aware routing off (--prefix_affinity_blocks=0: least loaded)
  nocache   prefix caching off on the workers (r1-worker --prefix_caching=false)

Prompts are token ids sent to /v1/completions (stream), so their lengths are exact. The reply
appended to the next turn is a fixed stand-in of `--reply_tokens` ids (the completions API does
not return token ids): the worker's cache holds the generated tokens, so a turn reuses at most the
previous turn's prompt, not its reply.

usage: bench/serving/multiturn_prefix.py [--users 4] [--turns 8] [--system_tokens 2048]
           [--workers 2] [--max_tokens 8] [--modes cache,noaffin,nocache]
Needs a build (R1_BUILD_DIR, default build/) with r1-coordinator, r1-worker and r1ctl, or those
programs in R1_BIN_DIR (a device bundle's bin/). R1_WORKER_DEVICE=cuda runs the workers on the GPU.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import pathlib
import random
import re
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
import cluster_util  # noqa: E402

VOCAB_LOW, VOCAB_HIGH = 100, 16000  # plain ids of r1-tiny's vocabulary


def ids(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(VOCAB_LOW, VOCAB_HIGH) for _ in range(n)]


def ttft(port: int, prompt: list[int], max_tokens: int) -> float:
    """Seconds from sending the request to its first streamed token."""
    body = {"model": "r1-tiny", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "ignore_eos": True}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        t0 = time.perf_counter()
        conn.request("POST", "/v1/completions", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
        first = None
        for event in cluster_util.sse_events(resp):
            if first is None and isinstance(event, dict):
                first = time.perf_counter() - t0
        return first if first is not None else float("nan")
    finally:
        conn.close()


def user(port: int, system: list[int], u: int, args) -> list[tuple[int, float]]:
    rng = random.Random(1000 + u)
    prompt = list(system)
    out = []
    for t in range(args.turns):
        prompt += ids(rng, args.user_tokens)
        out.append((t, ttft(port, prompt, args.max_tokens)))
        prompt += ids(rng, args.reply_tokens)
    return out


def worker_metrics(cluster: cluster_util.Cluster) -> dict[str, float]:
    """The sums over the workers of their prefix cache counters."""
    sums = {"hits": 0.0, "queries": 0.0}
    for name in cluster.workers:
        m = re.search(r"metrics_port=(\d+)", (cluster.work / f"{name}.log").read_text())
        if not m:
            continue
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        for line in text.splitlines():
            if line.startswith("r1_worker_prefix_cache_hits_total{"):
                sums["hits"] += float(line.rsplit(" ", 1)[1])
            elif line.startswith("r1_worker_prefix_cache_queries_total{"):
                sums["queries"] += float(line.rsplit(" ", 1)[1])
    return sums


def run_mode(mode: str, model: pathlib.Path, work: pathlib.Path, args) -> dict:
    # A CPU cluster's queue wait easily passes the admission bound: measure, don't refuse.
    coordinator_args = ["--max_queue_wait_s=0"]
    if mode == "noaffin":
        coordinator_args.append("--prefix_affinity_blocks=0")
    worker_args = ["--prefix_caching=false"] if mode == "nocache" else []
    cluster = cluster_util.Cluster(work / mode, model, 1, extra_args=coordinator_args,
                                   worker_args=worker_args)
    try:
        for i in range(args.workers):
            cluster.add_worker(f"w{i}")
        cluster.wait_serving(args.workers, timeout=180)
        system = ids(random.Random(7), args.system_tokens)
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.users) as pool:
            results = list(pool.map(lambda u: user(cluster.http_port, system, u, args),
                                    range(args.users)))
        wall = time.perf_counter() - t0
        time.sleep(1.5)  # the workers publish their engine counters after each step
        wm = worker_metrics(cluster)
        cm = cluster.metrics()
        routed = {k.split('"')[1]: v for k, v in cm.items()
                  if k.startswith("r1_routing_decisions_total{")}
        first = [s for r in results for t, s in r if t == 0]
        later = [s for r in results for t, s in r if t > 0]
        return {"mode": mode, "wall_s": wall, "ttft_first": first, "ttft_later": later,
                "hit_rate": wm["hits"] / wm["queries"] if wm["queries"] else 0.0,
                "hits": wm["hits"], "queries": wm["queries"], "routed": routed}
    finally:
        cluster.stop()


def summary(xs: list[float]) -> str:
    xs = sorted(xs)
    if not xs:
        return "-"
    p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
    return (f"mean {statistics.mean(xs) * 1e3:7.1f} ms  p50 {statistics.median(xs) * 1e3:7.1f}  "
            f"p90 {p90 * 1e3:7.1f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--turns", type=int, default=8)
    p.add_argument("--system_tokens", type=int, default=2048)
    p.add_argument("--user_tokens", type=int, default=48)
    p.add_argument("--reply_tokens", type=int, default=32)
    p.add_argument("--max_tokens", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--modes", default="cache,noaffin,nocache")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="r1-multiturn-"))
    model = cluster_util.prepare_model(work)
    print(f"model {model}; {args.workers} {cluster_util.worker_device()} workers; "
          f"{args.users} users x {args.turns} turns; "
          f"system prompt {args.system_tokens} tokens; logs in {work}")
    results = []
    for mode in args.modes.split(","):
        r = run_mode(mode, model, work, args)
        results.append(r)
        print(f"{mode:8s} wall {r['wall_s']:6.1f} s  hit rate {r['hit_rate']:.3f} "
              f"({r['hits']:.0f}/{r['queries']:.0f} tokens)  routed {r['routed']}")
        print(f"         TTFT turn 1:     {summary(r['ttft_first'])}")
        print(f"         TTFT turns 2-{args.turns}: {summary(r['ttft_later'])}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
