"""Acceptance test of the monitoring in deploy/ (CTest `monitoring_test`, label `monitoring`).

A local cluster on the ports deploy/prometheus/prometheus.yml names (coordinator 127.0.0.1:8000,
workers w1..w4 on 127.0.0.1:9101..9104, two engine groups of two) under load, scraped by a
Prometheus running the committed configuration and alerts. Checks: promtool accepts the config,
the rules and every endpoint's /metrics; every query of the Grafana dashboard returns data; a
killed worker is seen down and R1WorkerDown goes pending; tools/render_dashboard.py draws the
dashboard (to $R1_DASHBOARD_PNG too when set).
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
sys.path.insert(0, str(ROOT / "tools"))
import cluster_util  # noqa: E402  (build_dir, prepare_model, sse_events)
import render_dashboard  # noqa: E402  (panel_queries)

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "r1serve.json"
COORDINATOR_PORT = 8000
WORKER_PORTS = {f"w{i}": 9100 + i for i in range(1, 5)}
SCRAPE_INTERVAL_S = 5
RATE_INTERVAL = "1m"
MODEL_ID = "r1-tiny"
# Counters whose series appear at their first increment when a group's data plane breaks: the
# panels reading them get data only once a worker of a serving group has died.
FAILURE_ONLY_METRICS = ("r1_worker_group_failures_total",)


# --- helpers ----------------------------------------------------------------------------------

def tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found: install the Debian package prometheus "
                    "(scripts/install-deps.sh)")
    return path


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return 0, str(e)


def prom_query(prometheus: str, expr: str) -> list[dict]:
    """The instant vector of `expr` now; fails the test with Prometheus's error."""
    status, text = http_get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert status == 200, f"query {expr!r}: HTTP {status}: {text[:500]}"
    body = json.loads(text)
    assert body["status"] == "success", f"query {expr!r}: {body}"
    return body["data"]["result"]


def wait_until(what: str, predicate, timeout: float, interval: float = 0.5):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def run_promtool(*args: str, stdin: str | None = None) -> None:
    r = subprocess.run([tool("promtool"), *args], input=stdin, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (f"promtool {' '.join(args)} exited {r.returncode}:\n"
                               f"{r.stdout}{r.stderr}")


class Processes:
    """The cluster's and Prometheus's processes, each logging to <work>/<name>.log."""

    def __init__(self, work: pathlib.Path):
        self.work = work
        self.procs: dict[str, subprocess.Popen] = {}
        self.killed: set[str] = set()

    def log(self, name: str) -> pathlib.Path:
        return self.work / f"{name}.log"

    def start(self, name: str, argv: list[str], stdout_pipe: bool = False) -> subprocess.Popen:
        self.log(name).write_bytes(b"")
        log = open(self.log(name), "ab")  # appending: the coordinator's stdout drain shares it
        p = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout_pipe else log,
                             stderr=log if stdout_pipe else subprocess.STDOUT)
        self.procs[name] = p
        return p

    def kill(self, name: str) -> None:
        p = self.procs[name]
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.killed.add(name)

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if name not in self.killed and p.poll() is not None:
                raise AssertionError(f"{name} exited with {p.returncode}")

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def tails(self, lines: int = 40) -> str:
        out = []
        for name in self.procs:
            try:
                text = self.log(name).read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"== {name}.log\n" + "\n".join(text))
        return "\n".join(out)


# --- the cluster ------------------------------------------------------------------------------

def start_coordinator(procs: Processes, model: pathlib.Path) -> int:
    """Starts r1-coordinator on HTTP port 8000; returns its gRPC port."""
    p = procs.start("coordinator", [
        str(cluster_util.build_dir() / "coordinator" / "r1-coordinator"), f"--model={model}",
        f"--served_model_name={MODEL_ID}", "--group_size=2", "--grpc_address=127.0.0.1:0",
        f"--http_address=127.0.0.1:{COORDINATOR_PORT}", "--heartbeat_timeout_s=5"],
        stdout_pipe=True)
    ports: dict[str, int] = {}
    deadline = time.time() + 60
    while len(ports) < 2 and time.time() < deadline:
        line = p.stdout.readline().decode()
        if not line:
            break
        m = re.match(r"(grpc|http)_port=(\d+)", line.strip())
        if m:
            ports[m.group(1)] = int(m.group(2))
    assert len(ports) == 2, "the coordinator did not print its ports"
    assert ports["http"] == COORDINATOR_PORT, ports

    # Keep draining stdout so the coordinator never blocks on a full pipe.
    def drain(out=p.stdout, log=procs.log("coordinator")):
        with open(log, "ab") as f:
            for chunk in iter(lambda: out.read1(4096), b""):
                f.write(chunk)
    threading.Thread(target=drain, daemon=True).start()
    return ports["grpc"]


def start_worker(procs: Processes, name: str, grpc_port: int) -> None:
    procs.start(name, [
        str(cluster_util.build_dir() / "worker" / "r1-worker"),
        f"--coordinator=127.0.0.1:{grpc_port}", "--device=cpu", f"--worker_id={name}",
        "--kv_cache_mb=64", f"--metrics_address=127.0.0.1:{WORKER_PORTS[name]}"])


def coordinator_url(path: str) -> str:
    return f"http://127.0.0.1:{COORDINATOR_PORT}{path}"


def serving_groups() -> int:
    status, text = http_get(coordinator_url("/metrics"))
    if status != 200:
        return 0
    m = re.search(r'^r1_groups\{[^}]*state="GROUP_STATE_SERVING"[^}]*\}\s+(\S+)', text, re.M)
    return int(float(m.group(1))) if m else 0


def wait_serving(procs: Processes, groups: int, timeout: float = 120) -> None:
    def ready():
        procs.check_alive()
        return serving_groups() == groups and http_get(coordinator_url("/ready"))[0] == 200
    wait_until(f"{groups} serving groups and /ready", ready, timeout)


def targets_up(procs: Processes, prometheus: str) -> bool:
    """Whether Prometheus scrapes all 5 targets (coordinator, 4 workers) successfully."""
    procs.check_alive()
    _, text = http_get(f"{prometheus}/api/v1/targets")
    try:
        targets = json.loads(text)["data"]["activeTargets"]
    except (ValueError, KeyError):
        return False
    return len(targets) == 5 and all(t["health"] == "up" for t in targets)


# --- load -------------------------------------------------------------------------------------

PROMPTS = ["What is 12 + 30?", "What is 7 * 8?", "Name a prime number above 20.",
           "What is 100 - 37?", "Count from 1 to 5.", "What is 9 squared?"]


def chat(i: int, timeout: float = 120) -> int:
    """One chat completion (request i of a mix of streaming, lengths and temperatures)."""
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            "stream": i % 2 == 0, "max_tokens": 16 + (i * 7) % 17,
            "temperature": 0.0 if i % 3 else 0.7}
    conn = http.client.HTTPConnection("127.0.0.1", COORDINATOR_PORT, timeout=timeout)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        if r.status == 200 and body["stream"]:
            events = list(cluster_util.sse_events(r))
            assert events and events[-1] == "[DONE]", f"request {i}: stream ended early"
        else:
            r.read()
        return r.status
    finally:
        conn.close()


def malformed_request() -> int:
    conn = http.client.HTTPConnection("127.0.0.1", COORDINATOR_PORT, timeout=30)
    try:
        conn.request("POST", "/v1/chat/completions", body=b'{"model": "r1-tiny", "messages": [',
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


class BackgroundLoad:
    """Requests in flight on every group (errors ignored) while a worker is killed."""

    def __init__(self, threads: int = 4):
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True)
                        for t in range(threads)]

    def _run(self, t: int) -> None:
        i = t
        while not self.stop_event.is_set():
            try:
                chat(i, timeout=30)
            except Exception:  # noqa: BLE001  (the group under it may be dying)
                time.sleep(0.2)
            i += len(self.threads)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)


# --- tests ------------------------------------------------------------------------------------

def test_promtool_accepts_the_config_and_rules():
    run_promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    run_promtool("check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))


def test_dashboard_queries_parse_and_use_the_rate_interval(tmp_path):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "r1serve"
    raw = render_dashboard.panel_queries(dashboard, "$__rate_interval")
    assert raw, "the dashboard has no queries"
    for title, expr, _ in raw:
        ranges = re.findall(r"\[([^\]]*)\]", expr)
        assert all(r == "$__rate_interval" for r in ranges), f"{title}: {expr} ({ranges})"
    # promtool parses every query as a recording rule.
    rules = [{"record": f"r1:panel_query:{i}", "expr": expr}
             for i, (_, expr, _) in enumerate(render_dashboard.panel_queries(dashboard, "1m"))]
    path = tmp_path / "panel_queries.yml"
    path.write_text(json.dumps({"groups": [{"name": "panels", "rules": rules}]}))
    run_promtool("check", "rules", str(path))


def test_monitoring_end_to_end(tmp_path):
    prom_port = free_port()
    busy = [p for p in [COORDINATOR_PORT, *WORKER_PORTS.values(), prom_port] if port_in_use(p)]
    assert not busy, (f"port(s) {', '.join(map(str, busy))} in use on 127.0.0.1: "
                      "deploy/prometheus/prometheus.yml scrapes fixed ports; stop what uses them")
    prometheus_bin = tool("prometheus")
    work = tmp_path
    model = cluster_util.prepare_model(work)
    procs = Processes(work)
    prometheus = f"http://127.0.0.1:{prom_port}"
    try:
        # 1. The cluster: 4 workers, 2 groups of 2.
        grpc_port = start_coordinator(procs, model)
        for name in WORKER_PORTS:
            start_worker(procs, name, grpc_port)
        wait_serving(procs, 2)

        # 2. Prometheus with the committed configuration (copied only to keep its files out of
        #    the repository).
        run_promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
        run_promtool("check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))
        config = work / "prometheus-config"
        shutil.copytree(PROMETHEUS_DIR, config)
        for f in ("prometheus.yml", "alerts.yml"):
            assert (config / f).read_text() == (PROMETHEUS_DIR / f).read_text()
        procs.start("prometheus", [
            prometheus_bin, f"--config.file={config / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"])
        wait_until("Prometheus ready", lambda: procs.check_alive() or
                   http_get(f"{prometheus}/-/ready")[0] == 200, 60)
        wait_until("every Prometheus target up", lambda: targets_up(procs, prometheus), 60)

        # 3. Load: 40 chat completions spread over ~20 s (several scrapes), up to 8 at a time,
        #    and one malformed request (a rejection series).
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = []
            for i in range(40):
                futures.append(pool.submit(chat, i))
                time.sleep(0.5)
            codes = [f.result() for f in futures]
        assert codes == [200] * 40, codes
        assert malformed_request() == 400
        print("load: 40 chat completions and one malformed request")

        # 4. Every endpoint's /metrics passes promtool.
        endpoints = {"coordinator": COORDINATOR_PORT, **WORKER_PORTS}
        for name, port in endpoints.items():
            status, text = http_get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200, f"{name} /metrics: HTTP {status}: {text[:300]}"
            r = subprocess.run([tool("promtool"), "check", "metrics"], input=text,
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, (f"promtool check metrics of {name} (127.0.0.1:{port}) "
                                       f"exited {r.returncode}:\n{r.stdout}{r.stderr}")

        # 5. Prometheus scrapes every target, then three more scrapes.
        wait_until("every Prometheus target up", lambda: targets_up(procs, prometheus), 60)
        time.sleep(3 * SCRAPE_INTERVAL_S + 1)

        # 6. Prometheus saw the load, and every dashboard query returns data.
        for expr, at_least in [
                ('sum(r1_requests_total{route="/v1/chat/completions",code="200"})', 40),
                ("sum(r1_generation_tokens_total)", 40),
                ("sum(r1_worker_decode_tokens_total)", 1),
                ("sum(r1_ep_tokens_sent_total)", 1),
                (f"sum(rate(r1_generation_tokens_total[{RATE_INTERVAL}]))", 1e-9)]:
            got = prom_query(prometheus, expr)
            value = float(got[0]["value"][1]) if got else 0.0
            assert value >= at_least, f"{expr} = {value}, expected >= {at_least}"

        queries = render_dashboard.panel_queries(json.loads(DASHBOARD.read_text()), RATE_INTERVAL)
        failure_only = [q for q in queries if any(m in q[1] for m in FAILURE_ONLY_METRICS)]
        empty = [f"{title}: {expr}" for title, expr, legend in queries
                 if (title, expr, legend) not in failure_only
                 and not prom_query(prometheus, expr)]
        assert not empty, "dashboard queries without data:\n  " + "\n  ".join(empty)
        print(f"dashboard: {len(queries) - len(failure_only)} queries return data")

        # 7. A worker dies mid-load: Prometheus sees it down, R1WorkerDown goes pending and
        #    its group's peer (whichever worker joined that group) records the group failure.
        with BackgroundLoad():
            time.sleep(2)
            procs.kill("w4")
            wait_until("up of w4 == 0", lambda: prom_query(
                prometheus, 'up{job="r1-workers",instance="127.0.0.1:9104"} == 0'), 60)
            wait_until("R1WorkerDown pending", lambda: prom_query(
                prometheus, 'ALERTS{alertname="R1WorkerDown",alertstate="pending"}'), 60)
            deadline = time.time() + 60
            missing = failure_only
            while missing and time.time() < deadline:
                time.sleep(1)
                missing = [q for q in missing if not prom_query(prometheus, q[1])]
            assert not missing, ("dashboard queries without data after a worker died:\n  " +
                                 "\n  ".join(f"{t}: {e}" for t, e, _ in missing))
        print("w4 killed: up == 0, R1WorkerDown pending, group failure recorded")

        # 8. The dashboard as a PNG.
        png = work / "r1serve.png"
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "render_dashboard.py"),
                            "--prometheus", prometheus, "--dashboard", str(DASHBOARD),
                            "--minutes", "5", "--rate-interval", RATE_INTERVAL, "--out", str(png)],
                           capture_output=True, text=True, timeout=300)
        print(r.stdout + r.stderr)
        assert r.returncode == 0, f"render_dashboard.py exited {r.returncode}"
        assert png.stat().st_size > 10_000
        if os.environ.get("R1_DASHBOARD_PNG"):
            shutil.copy(png, os.environ["R1_DASHBOARD_PNG"])
            print(f"dashboard PNG: {os.environ['R1_DASHBOARD_PNG']}")
    except BaseException:
        print("\n--- log tails ---\n" + procs.tails(), file=sys.stderr)
        raise
    finally:
        procs.stop_all()
