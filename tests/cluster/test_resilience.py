"""Workers that outlive their group's failure, and restarts that lose nothing (processes on
loopback, CPU workers):
  - a worker stopped with SIGSTOP: its group's streams end within the heartbeat timeout with an
    error naming it, the healthy peer stays registered, and after SIGCONT the two re-form the
    group and serve — no outside supervisor;
  - a stalled worker replaced by a new one: the survivor and the newcomer form the group;
  - a rolling restart of a 2-group cluster (drain each worker, start a replacement) under 32
    concurrent streaming clients completes every stream.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time

from cluster_util import Cluster, build_dir, prepare_model, prepare_random_model, sse_events

MODEL_ID = "r1-tiny"
HEARTBEAT_S = 5  # Cluster's --heartbeat_timeout_s
# Workers' --watchdog_s: a survivor blocked in a collective with the stalled peer gets out by then
# (the coordinator's AbortGroup breaks the group at once, but Gloo cannot wake a call in flight).
WATCHDOG_S = 8


def wait_until(pred, timeout: float, what: str, cluster: Cluster) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s:\n{cluster.log_tail()}")


def stream_until_error(c: Cluster, i: int, out: dict, started: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=120)
    body = {"model": MODEL_ID, "stream": True, "max_tokens": 2000, "temperature": 1.0, "seed": i,
            "messages": [{"role": "user", "content": f"tell me a long story {i}"}]}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    error, end = None, None
    for ev in sse_events(resp):
        started.set()
        if ev == "[DONE]":
            break
        if "error" in ev:
            error, end = ev["error"], time.time()
    out[i] = (error, end or time.time())


def completion_ok(c: Cluster, prompt: str) -> bool:
    status, body = c.request("POST", "/v1/completions",
                             {"model": MODEL_ID, "prompt": prompt, "max_tokens": 4})
    return status == 200


def stream_once(c: Cluster, prompt: str) -> tuple[int, str]:
    """One streamed completion; (200, "") when it ended with [DONE] and no error event."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=120)
        conn.request("POST", "/v1/completions", body=json.dumps(
            {"model": MODEL_ID, "prompt": prompt, "max_tokens": 8, "stream": True}),
            headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            return resp.status, resp.read().decode("utf-8", "replace")[:300]
        done = False
        for ev in sse_events(resp):
            if ev == "[DONE]":
                done = True
                break
            if "error" in ev:
                return 599, json.dumps(ev)[:300]
        return (200, "") if done else (598, "stream ended without [DONE]")
    except OSError as e:
        return 597, repr(e)


def worker_lines(c: Cluster) -> list[str]:
    return [l for l in c.status().splitlines() if l.startswith("worker ")]


def test_a_stalled_worker_is_named_its_peer_survives_and_the_group_reforms(tmp_path):
    c = Cluster(tmp_path, prepare_random_model(tmp_path), group_size=2,
                worker_args=[f"--watchdog_s={WATCHDOG_S}"])
    try:
        c.add_worker("s1")
        c.add_worker("s2")
        c.wait_serving(1)
        results, started = {}, threading.Event()
        threads = [threading.Thread(target=stream_until_error, args=(c, i, results, started))
                   for i in range(4)]
        for t in threads:
            t.start()
        assert started.wait(60), c.log_tail()
        time.sleep(0.5)
        t_stop = time.time()
        c.workers["s2"].send_signal(signal.SIGSTOP)
        for t in threads:
            t.join(60)
        assert all(not t.is_alive() for t in threads), "a stream hung after the stall"
        for i, (error, end) in results.items():
            assert error is not None, f"stream {i} did not see the stall"
            assert "s2" in error["message"], error
            assert end - t_stop < HEARTBEAT_S + 5, f"stream {i} ended {end - t_stop:.1f} s later"
        print(f"SIGSTOP: every stream ended naming s2 within "
              f"{max(e for _, e in results.values()) - t_stop:.1f} s")
        # The healthy peer is still registered (idle), the stalled one is gone.
        wait_until(lambda: any("s1 WORKER_STATE_IDLE" in l for l in worker_lines(c)), 30,
                   "s1 idle", c)
        assert not any(l.startswith("worker s2 ") for l in worker_lines(c))
        assert c.workers["s1"].poll() is None
        # SIGCONT: s2 attaches again and the group re-forms and serves.
        t_cont = time.time()
        c.workers["s2"].send_signal(signal.SIGCONT)
        c.wait_serving(1, timeout=60)
        assert completion_ok(c, "after the stall")
        print(f"SIGCONT: the group re-formed and served {time.time() - t_cont:.1f} s later")
        assert c.workers["s1"].poll() is None and c.workers["s2"].poll() is None
    finally:
        for p in c.workers.values():
            p.send_signal(signal.SIGCONT)
        c.stop()


def test_a_replacement_joins_the_survivor(tmp_path):
    c = Cluster(tmp_path, prepare_model(tmp_path), group_size=2,
                worker_args=[f"--watchdog_s={WATCHDOG_S}"])
    try:
        c.add_worker("r1")
        c.add_worker("r2")
        c.wait_serving(1)
        c.workers["r2"].send_signal(signal.SIGSTOP)
        wait_until(lambda: any("r1 WORKER_STATE_IDLE" in l for l in worker_lines(c)),
                   HEARTBEAT_S + 20, "r1 idle after r2 stalled", c)
        c.add_worker("r3")
        c.wait_serving(1, timeout=60)
        assert completion_ok(c, "with the replacement")
        assert c.workers["r1"].poll() is None
    finally:
        c.kill_worker("r2")
        c.stop()


def test_rolling_restart_under_load_loses_no_request(tmp_path):
    c = Cluster(tmp_path, prepare_model(tmp_path), group_size=2)
    try:
        names = ["a1", "a2", "a3", "a4"]
        for n in names:
            c.add_worker(n)
        c.wait_serving(2)
        stop = threading.Event()
        outcomes: list[tuple[int, str]] = []
        lock = threading.Lock()

        def client(i: int) -> None:
            k = 0
            while not stop.is_set():
                outcomes_append(stream_once(c, f"{i} + {k} ="))
                k += 1

        def outcomes_append(o: tuple[int, str]) -> None:
            with lock:
                outcomes.append(o)

        clients = [threading.Thread(target=client, args=(i,)) for i in range(32)]
        for t in clients:
            t.start()
        time.sleep(2)
        r1ctl = str(build_dir() / "r1ctl" / "r1ctl")
        for n in names:
            drained = subprocess.run(
                [r1ctl, "drain", "--worker", n, "--timeout", "60", "--coordinator",
                 f"127.0.0.1:{c.grpc_port}"], capture_output=True, text=True, timeout=120)
            assert drained.returncode == 0, drained.stderr + c.log_tail()
            assert f"worker {n} shut down" in drained.stdout, drained.stdout
            assert c.workers.pop(n).wait(30) == 0  # the drained worker exits cleanly
            c.add_worker(n + "-new")
            c.wait_serving(2, timeout=60)
        time.sleep(2)
        stop.set()
        for t in clients:
            t.join(120)
        failed = [o for o in outcomes if o[0] != 200]
        print(f"rolling restart: {len(outcomes)} streams from 32 clients, {len(failed)} failed")
        assert len(outcomes) >= 32  # every client finished at least one stream
        assert not failed, failed[:5]
    finally:
        c.stop()
