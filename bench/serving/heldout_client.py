#!/usr/bin/env python3
"""Sends models/r1-tiny's held-out problems to a running cluster's OpenAI API (greedy, N at once)
and prints accuracy, wall time and generated tokens per second. Standard library only, so it runs
on any machine with python3.

usage: bench/serving/heldout_client.py [--url http://127.0.0.1:8000] [--concurrency 32]
                                      [--answers answers.jsonl]
--answers writes each problem's answer (index, content, correct) so that two runs can be compared
(e.g. greedy answers at concurrency 1 and 64, or of one GPU and an expert-parallel group).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import pathlib
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]


def solve(url: str, problem: dict) -> tuple[bool, int, float, str]:
    body = {"model": "r1-tiny", "messages": problem["messages"], "max_tokens": 256,
            "temperature": 0}
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.time()
    with urllib.request.urlopen(req, timeout=300) as resp:
        r = json.load(resp)
    content = (r["choices"][0]["message"].get("content") or "").strip()
    return (content == problem["answer"], r["usage"]["completion_tokens"], time.time() - t0,
            content)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--heldout", default=str(ROOT / "models" / "r1-tiny" / "heldout.jsonl"))
    ap.add_argument("--answers", default="", help="write every answer here (JSON lines)")
    a = ap.parse_args()
    problems = [json.loads(l) for l in pathlib.Path(a.heldout).read_text().splitlines() if l]
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(a.concurrency) as ex:
        results = list(ex.map(lambda p: solve(a.url, p), problems))
    wall = time.time() - t0
    correct = sum(ok for ok, _, _, _ in results)
    tokens = sum(n for _, n, _, _ in results)
    lat = sorted(t for _, _, t, _ in results)
    if a.answers:
        with open(a.answers, "w") as f:
            for i, (ok, _, _, content) in enumerate(results):
                f.write(json.dumps({"index": i, "content": content, "correct": ok}) + "\n")
    print(json.dumps({"problems": len(problems), "correct": correct,
                      "accuracy": correct / len(problems), "concurrency": a.concurrency,
                      "wall_s": round(wall, 3), "completion_tokens": tokens,
                      "tokens_per_s": round(tokens / wall, 1),
                      "latency_p50_s": round(lat[len(lat) // 2], 3),
                      "latency_max_s": round(lat[-1], 3),
                      "wrong": [i for i, r in enumerate(results) if not r[0]]}))


if __name__ == "__main__":
    main()
