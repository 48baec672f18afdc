"""The cluster's control plane as an attacker and a careless operator would meet it (processes on
loopback): a cluster with API keys, a cluster secret and mTLS serves; a worker without the secret,
with a certificate from another CA, or with a duplicate id is refused with a clear error on both
sides; r1ctl needs the secret; a second coordinator cannot share the gRPC port.

Certificates come from a throw-away CA made with the openssl CLI for each run.
"""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from cluster_util import Cluster, build_dir, prepare_model

API_KEY = "sk-test-api-key"
SECRET = "cluster-secret-for-tests"


def openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d: pathlib.Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)


def make_cert(d: pathlib.Path, ca: str, name: str, server: bool) -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
            f"{name}.key", "-out", f"{name}.csr", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else
                   "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", ext.name, "-out", f"{name}.pem", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_cert(d, "ca", "coordinator", server=True)
    make_cert(d, "ca", "worker", server=False)
    make_cert(d, "other-ca", "stranger", server=False)
    (d / "api_keys").write_text(f"# keys\n{API_KEY}\n")
    (d / "secret").write_text(f"{SECRET}\n")
    (d / "wrong_secret").write_text("not-the-secret\n")
    return d


def wait_exit(p: subprocess.Popen, timeout: float) -> int:
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("the process did not exit") from None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, pki):
    work = tmp_path_factory.mktemp("secure")
    tls_worker = [f"--coordinator_ca_file={pki}/ca.pem", f"--tls_cert_file={pki}/worker.pem",
                  f"--tls_key_file={pki}/worker.key"]
    c = Cluster(work, prepare_model(work), group_size=1, api_key=API_KEY,
                extra_args=[f"--api_key_file={pki}/api_keys", f"--cluster_secret_file={pki}/secret",
                            f"--grpc_tls_cert_file={pki}/coordinator.pem",
                            f"--grpc_tls_key_file={pki}/coordinator.key",
                            f"--grpc_tls_client_ca_file={pki}/ca.pem"],
                worker_args=[f"--cluster_secret_file={pki}/secret", *tls_worker],
                r1ctl_args=["--cluster-secret-file", f"{pki}/secret", "--ca-file", f"{pki}/ca.pem",
                            "--cert-file", f"{pki}/worker.pem", "--key-file", f"{pki}/worker.key"])
    c.tls_worker = tls_worker
    try:
        c.add_worker("w1")
        c.wait_serving(1)
        yield c
    finally:
        c.stop()


def test_a_secured_cluster_serves_and_checks_keys(cluster):
    status, body = cluster.request("POST", "/v1/completions",
                                   {"model": "r1-tiny", "prompt": "1+1=", "max_tokens": 4})
    assert status == 200, body
    status, body = cluster.request("GET", "/v1/models", headers={"Authorization": "Bearer nope"})
    assert status == 401, body
    assert "w1" in cluster.status()  # r1ctl over mTLS with the secret


def test_r1ctl_without_the_secret_is_refused(cluster, pki):
    out = subprocess.run(
        [str(build_dir() / "r1ctl" / "r1ctl"), "status", "--coordinator",
         f"127.0.0.1:{cluster.grpc_port}", "--ca-file", f"{pki}/ca.pem", "--cert-file",
         f"{pki}/worker.pem", "--key-file", f"{pki}/worker.key"],
        capture_output=True, text=True)
    assert out.returncode == 1
    assert "missing cluster secret" in out.stderr, out.stderr


def test_a_worker_without_the_secret_is_refused(cluster, pki):
    cluster.add_worker("no-secret", args=cluster.tls_worker)
    assert wait_exit(cluster.workers.pop("no-secret"), 30) != 0
    log = (cluster.work / "no-secret.log").read_text()
    assert "missing cluster secret" in log, log
    cluster.add_worker("bad-secret", args=[f"--cluster_secret_file={pki}/wrong_secret",
                                           *cluster.tls_worker])
    assert wait_exit(cluster.workers.pop("bad-secret"), 30) != 0
    assert "invalid cluster secret" in (cluster.work / "bad-secret.log").read_text()
    coordinator_log = (cluster.work / "coordinator.log").read_text()
    assert "refused a worker" in coordinator_log
    assert "no-secret" not in cluster.status()


def test_a_worker_with_a_foreign_certificate_cannot_connect(cluster, pki):
    cluster.add_worker("stranger", args=[
        f"--cluster_secret_file={pki}/secret", f"--coordinator_ca_file={pki}/ca.pem",
        f"--tls_cert_file={pki}/stranger.pem", f"--tls_key_file={pki}/stranger.key",
        "--connect_timeout_s=3"])
    assert wait_exit(cluster.workers.pop("stranger"), 30) != 0
    assert "cannot reach the coordinator" in (cluster.work / "stranger.log").read_text()
    # Plain text against the TLS port fails the same way.
    cluster.add_worker("plaintext", args=[f"--cluster_secret_file={pki}/secret",
                                          "--connect_timeout_s=3"])
    assert wait_exit(cluster.workers.pop("plaintext"), 30) != 0


def test_a_duplicate_worker_id_is_a_clear_error_on_both_sides(cluster):
    cluster.add_worker("w1-again", args=cluster.worker_args + ["--worker_id=w1"])
    assert wait_exit(cluster.workers.pop("w1-again"), 30) != 0
    log = (cluster.work / "w1-again.log").read_text()
    assert "worker id w1 is already attached" in log, log
    assert "worker id w1 is already attached" in (cluster.work / "coordinator.log").read_text()
    status, _ = cluster.request("GET", "/ready")
    assert status == 200  # the original w1 still serves


def test_a_second_coordinator_cannot_take_the_grpc_port(cluster, tmp_path):
    p = subprocess.run(
        [str(build_dir() / "coordinator" / "r1-coordinator"), f"--model={cluster.model}",
         f"--grpc_address=127.0.0.1:{cluster.grpc_port}", "--http_address=127.0.0.1:0"],
        capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "cannot listen" in p.stderr, p.stderr[-2000:]


def test_an_open_cluster_plane_is_reported(tmp_path):
    # Without --cluster_secret_file the coordinator says so at start.
    work = tmp_path / "open"
    c = Cluster(work, prepare_model(work), group_size=1)
    try:
        assert "no --cluster_secret_file" in (work / "coordinator.log").read_text()
    finally:
        c.stop()
