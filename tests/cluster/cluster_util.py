"""Starts and stops a local r1serve cluster (coordinator + CPU workers as real processes).

Used by the multi-process cluster tests (CTest label `cluster`). Every process writes its log
under the cluster's work directory; a failing test prints the logs' tails.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_dir() -> pathlib.Path:
    d = ROOT / os.environ.get("R1_BUILD_DIR", "build")
    if not (d / "coordinator" / "r1-coordinator").exists():
        raise RuntimeError(f"build r1serve first (missing {d}/coordinator/r1-coordinator)")
    return d


def binary(path: str) -> pathlib.Path:
    """A program by its path in the build tree ("worker/r1-worker"), or by its name in R1_BIN_DIR
    when that is set (a flat folder of programs, as the GPU machine's bundle has)."""
    flat = os.environ.get("R1_BIN_DIR")
    if flat:
        return pathlib.Path(flat) / pathlib.PurePath(path).name
    return build_dir() / path


def worker_device() -> str:
    """The workers' --device: R1_WORKER_DEVICE (cuda on a GPU machine), else cpu."""
    return os.environ.get("R1_WORKER_DEVICE", "cpu")


def prepare_model(work: pathlib.Path) -> pathlib.Path:
    """The model the cluster serves: models/r1-tiny when it has weights, else a random model of
    the same architecture (deploy/local/r1-tiny-random.config.json) with r1-tiny's tokenizer."""
    tiny = ROOT / "models" / "r1-tiny"
    if (tiny / "config.json").exists() and (tiny / "model.safetensors.index.json").exists():
        return tiny
    return prepare_random_model(work)


def prepare_random_model(work: pathlib.Path) -> pathlib.Path:
    """A random model of r1-tiny's architecture with its tokenizer. Its generations do not end
    early the way the trained model's short answers do, which tests of long-running streams
    (disconnects, killed workers) need."""
    tiny = ROOT / "models" / "r1-tiny"
    out = work / "model"
    if not (out / "config.json").exists():
        subprocess.run(
            [str(binary("r1ctl/r1ctl")), "gen-checkpoint", "--config",
             str(ROOT / "deploy" / "local" / "r1-tiny-random.config.json"), "--out", str(out),
             "--seed", "7"],
            check=True, stdout=subprocess.DEVNULL)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tiny / f, out / f)
    return out


class Cluster:
    """One coordinator and any number of CPU workers on loopback."""

    def __init__(self, work: pathlib.Path, model: pathlib.Path, group_size: int,
                 extra_args: list[str] | None = None, api_key: str | None = None,
                 worker_args: list[str] | None = None, r1ctl_args: list[str] | None = None):
        """`api_key`: sent on every HTTP request; `worker_args`: added to every worker's command
        line; `r1ctl_args`: added to `r1ctl status` (a secured cluster's credentials)."""
        self.work = work
        self.api_key = api_key
        self.worker_args = list(worker_args or [])
        self.r1ctl_args = list(r1ctl_args or [])
        self.work.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.group_size = group_size
        self.workers: dict[str, subprocess.Popen] = {}
        self._logs = []
        log = open(work / "coordinator.log", "wb")
        self._logs.append(work / "coordinator.log")
        self.coordinator = subprocess.Popen(
            [str(binary("coordinator/r1-coordinator")), f"--model={model}",
             f"--group_size={group_size}", "--grpc_address=127.0.0.1:0",
             "--http_address=127.0.0.1:0", "--served_model_name=r1-tiny",
             "--heartbeat_timeout_s=5", *(extra_args or [])],
            stdout=subprocess.PIPE, stderr=log)
        ports = {}
        deadline = time.time() + 30
        while len(ports) < 2 and time.time() < deadline:
            line = self.coordinator.stdout.readline().decode()
            if not line:
                break
            m = re.match(r"(grpc|http)_port=(\d+)", line.strip())
            if m:
                ports[m.group(1)] = int(m.group(2))
        if len(ports) < 2:
            self.stop()
            raise RuntimeError("coordinator did not start:\n" + self.log_tail())
        self.grpc_port = ports["grpc"]
        self.http_port = ports["http"]
        self.base_url = f"http://127.0.0.1:{self.http_port}"

    def add_worker(self, name: str, args: list[str] | None = None) -> None:
        """Starts a worker; `args` replace the cluster's worker_args for this one."""
        log = open(self.work / f"{name}.log", "wb")
        self._logs.append(self.work / f"{name}.log")
        self.workers[name] = subprocess.Popen(
            [str(binary("worker/r1-worker")), f"--coordinator=127.0.0.1:{self.grpc_port}",
             f"--device={worker_device()}", f"--worker_id={name}", "--kv_cache_mb=64",
             *(self.worker_args if args is None else args)],
            stdout=log, stderr=subprocess.STDOUT)

    def kill_worker(self, name: str) -> None:
        p = self.workers.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    # --- HTTP helpers -------------------------------------------------------------------------
    def request(self, method: str, path: str, body=None, headers=None, timeout=60):
        """Returns (status, parsed JSON or raw text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            h = {"Content-Type": "application/json"}
            if self.api_key:
                h["Authorization"] = f"Bearer {self.api_key}"
            h.update(headers or {})
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            text = r.read().decode("utf-8", "replace")
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text
        finally:
            conn.close()

    def metrics(self) -> dict[str, float]:
        """Prometheus text → {'name{labels}': value}."""
        status, text = self.request("GET", "/metrics")
        assert status == 200, text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def status(self, *extra: str) -> str:
        """`r1ctl status` (with `extra` options, e.g. --experts)."""
        return subprocess.run(
            [str(binary("r1ctl/r1ctl")), "status", *extra, "--coordinator",
             f"127.0.0.1:{self.grpc_port}", *self.r1ctl_args],
            check=True, capture_output=True, text=True).stdout

    def serving_groups(self) -> int:
        m = self.metrics()
        return int(sum(v for k, v in m.items() if k.startswith("r1_groups{") and "SERVING" in k))

    def wait_serving(self, groups: int, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.serving_groups() >= groups:
                status, _ = self.request("GET", "/ready")
                if status == 200:
                    return
            for name, p in self.workers.items():
                if p.poll() is not None:
                    raise RuntimeError(f"worker {name} exited:\n" + self.log_tail())
            time.sleep(0.2)
        raise RuntimeError(f"{groups} group(s) not serving after {timeout} s:\n" + self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for p in self._logs:
            try:
                text = p.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"== {p.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for p in list(self.workers.values()) + [self.coordinator]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for p in list(self.workers.values()) + [self.coordinator]:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.workers.clear()


def sse_events(resp) -> "iter[dict | str]":
    """Yields parsed `data:` payloads of an SSE response (http.client), '[DONE]' as a string."""
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            return
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data: "):
                    payload = line[6:].decode()
                    yield payload if payload == "[DONE]" else json.loads(payload)
