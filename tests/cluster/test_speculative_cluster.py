"""MTP speculative decoding served end to end (CTest label `cluster`): a coordinator and a CPU
worker started with `--speculative_tokens=1` against one without, both serving models/r1-tiny
(groups of one worker). Greedy chat completions are the same token for token, the speculating
worker's Prometheus metrics show accepted drafts, a request with `"speculative": false` is served
(without drafting) and gives the same output, and the refusals are clear: a bad flag value, a
bad `speculative` value. Expert-parallel groups of 2 workers speculate too: with
`--speculative_tokens=2` on both, concurrent greedy requests (spread over both ranks) give the
answers of a plain group of 2 with drafts accepted on both ranks; ranks started with different
values are refused when the group forms."""

from __future__ import annotations

import pathlib
import re
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from cluster_util import Cluster, build_dir, prepare_model

PROMPTS = [
    "What is 17 + 25?",
    "Compute 9 * 8.",
    "If I have 12 apples and eat 5, how many are left?",
    "What is 100 - 37?",
    "Is 91 a prime number?",
]
MAX_TOKENS = 48


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> pathlib.Path:
    return prepare_model(tmp_path_factory.mktemp("model"))


def start(work: pathlib.Path, model: pathlib.Path, worker_args: list[str]) -> Cluster:
    c = Cluster(work, model, 1, worker_args=worker_args)
    try:
        c.add_worker("w0")
        c.wait_serving(1)
    except Exception:
        c.stop()
        raise
    return c


@pytest.fixture(scope="module")
def clusters(tmp_path_factory, model):
    """(plain, speculating): one worker each, the second with --speculative_tokens=1."""
    plain = start(tmp_path_factory.mktemp("plain"), model, [])
    try:
        spec = start(tmp_path_factory.mktemp("spec"), model, ["--speculative_tokens=1"])
    except Exception:
        plain.stop()
        raise
    yield plain, spec
    spec.stop()
    plain.stop()


def chat(c: Cluster, prompt: str, **extra) -> tuple[int, dict]:
    body = {"model": "r1-tiny", "messages": [{"role": "user", "content": prompt}],
            "temperature": 0, "max_tokens": MAX_TOKENS, **extra}
    return c.request("POST", "/v1/chat/completions", body, timeout=120)


def answer(c: Cluster, prompt: str, **extra) -> str:
    status, r = chat(c, prompt, **extra)
    assert status == 200, r
    m = r["choices"][0]["message"]
    return (m.get("reasoning_content") or "") + "|" + (m.get("content") or "")


def worker_metrics(c: Cluster, name: str = "w0") -> dict[str, float]:
    """The worker's own /metrics (its port is printed as metrics_port=N in its log)."""
    deadline = time.time() + 10
    port = None
    while port is None and time.time() < deadline:
        m = re.search(r"metrics_port=(\d+)", (c.work / f"{name}.log").read_text(errors="replace"))
        port = int(m.group(1)) if m else None
        if port is None:
            time.sleep(0.2)
    assert port is not None, c.log_tail()
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def total(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(name + "{"))


def test_greedy_outputs_equal_the_plain_cluster_and_drafts_are_accepted(clusters):
    plain, spec = clusters
    for prompt in PROMPTS:
        assert answer(spec, prompt) == answer(plain, prompt), prompt
    m = worker_metrics(spec)
    drafts = total(m, "r1_speculative_draft_tokens_total")
    accepted = total(m, "r1_speculative_accepted_tokens_total")
    steps = total(m, "r1_speculative_steps_total")
    print(f"speculative_tokens=1: {accepted:.0f} of {drafts:.0f} drafts accepted in "
          f"{steps:.0f} verifying steps")
    assert drafts > 0 and steps > 0
    assert accepted > 0
    assert total(m, "r1_speculative_accepted_tokens_per_step_count") == steps
    # The plain worker never drafts (its series exist, at 0).
    assert total(worker_metrics(plain), "r1_speculative_draft_tokens_total") == 0


def test_a_request_can_opt_out(clusters):
    plain, spec = clusters
    before = total(worker_metrics(spec), "r1_speculative_draft_tokens_total")
    assert answer(spec, PROMPTS[0], speculative=False) == answer(plain, PROMPTS[0])
    assert total(worker_metrics(spec), "r1_speculative_draft_tokens_total") == before
    # The plain cluster accepts the field too (it changes nothing there).
    status, _ = chat(plain, PROMPTS[1], speculative=True)
    assert status == 200
    # Sampled requests speculate as well (stochastic verification), reproducibly for a seed.
    a = answer(spec, PROMPTS[2], temperature=0.8, seed=11)
    assert a == answer(spec, PROMPTS[2], temperature=0.8, seed=11)
    assert total(worker_metrics(spec), "r1_speculative_draft_tokens_total") > before


def test_a_bad_speculative_value_is_an_openai_error(clusters):
    _, spec = clusters
    status, r = chat(spec, PROMPTS[0], speculative="no")
    assert status == 400, r
    assert r["error"]["param"] == "speculative"
    assert r["error"]["code"] == "invalid_type"
    assert r["error"]["type"] == "invalid_request_error"


def test_bad_flag_values_are_refused_at_start():
    for value in ("4", "-1"):
        p = subprocess.run(
            [str(build_dir() / "worker" / "r1-worker"), "--coordinator=127.0.0.1:1",
             "--device=cpu", f"--speculative_tokens={value}", "--metrics_address="],
            capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, p
        assert "--speculative_tokens" in p.stdout + p.stderr, p


def start_group(work: pathlib.Path, model: pathlib.Path, args: list[list[str]],
                wait: bool = True) -> Cluster:
    """One expert-parallel group of len(args) workers, worker i started with args[i]."""
    c = Cluster(work, model, len(args))
    try:
        for i, a in enumerate(args):
            c.add_worker(f"w{i}", a)
        if wait:
            c.wait_serving(1)
    except Exception:
        c.stop()
        raise
    return c


@pytest.fixture(scope="module")
def ep_clusters(tmp_path_factory, model):
    """(plain, speculating): a group of 2 workers each, the second's with --speculative_tokens=2."""
    plain = start_group(tmp_path_factory.mktemp("ep-plain"), model, [[], []])
    try:
        spec = start_group(tmp_path_factory.mktemp("ep-spec"), model,
                           [["--speculative_tokens=2"]] * 2)
    except Exception:
        plain.stop()
        raise
    yield plain, spec
    spec.stop()
    plain.stop()


def test_an_expert_parallel_group_speculates_with_the_same_greedy_answers(ep_clusters):
    plain, spec = ep_clusters
    # Concurrent requests: the coordinator spreads them over both ranks, so each rank decodes and
    # drafts while the other is busy or idle (every step runs the MTP layer's exchanges on both).
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        want = list(pool.map(lambda p: answer(plain, p), PROMPTS))
        got = list(pool.map(lambda p: answer(spec, p), PROMPTS))
    assert got == want
    drafts = accepted = 0.0
    for w in ("w0", "w1"):
        m = worker_metrics(spec, w)
        drafts += total(m, "r1_speculative_draft_tokens_total")
        accepted += total(m, "r1_speculative_accepted_tokens_total")
        assert total(worker_metrics(plain, w), "r1_speculative_draft_tokens_total") == 0
    print(f"expert-parallel group of 2, speculative_tokens=2: {accepted:.0f} of {drafts:.0f} "
          "drafts accepted")
    assert drafts > 0 and accepted > 0
    # Opted out, a request decodes without drafts in the speculating group: the same answer.
    assert answer(spec, PROMPTS[0], speculative=False) == want[0]
    assert spec.serving_groups() == 1


def test_ranks_with_different_speculative_tokens_are_refused(tmp_path, model):
    c = start_group(tmp_path / "ep-mismatch", model, [["--speculative_tokens=1"], []], wait=False)
    try:
        deadline = time.time() + 120
        logs = ""
        want = "--speculative_tokens differs across the ranks of the group"
        while time.time() < deadline:
            logs = "".join((c.work / f"w{i}.log").read_text(errors="replace") for i in range(2))
            if logs.count(want) >= 2:
                break
            time.sleep(0.5)
        # Both ranks refuse, naming each rank's value (which worker got rank 0 may vary).
        assert logs.count(want) >= 2, c.log_tail()
        assert "(rank 0: 1, rank 1: 0)" in logs or "(rank 0: 0, rank 1: 1)" in logs, logs
        assert c.serving_groups() == 0
    finally:
        c.stop()
