"""The real server: gunicorn on loopback, a key made with the CLI, a request over HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CLINNLP = [sys.executable, "-m", "nlp.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError("server not ready in time")


@pytest.fixture
def server(tmp_path):
    """`clinnlp serve` as `make serve` runs it: defaults, state in `var/` relative to the working folder."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CLINNLP_STATE_DIR", "CLINNLP_ALLOCATOR")}
    env["CLINNLP_SUMMARIZERS"] = "lead"
    process = subprocess.Popen([*CLINNLP, "serve", "--port", str(port), "--threads", "2"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        yield f"http://127.0.0.1:{port}", tmp_path / "var", process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def post(url: str, body: dict, key: str | None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_service_live_over_http(server):
    base, state, _ = server
    first_key = state / "first-api-key"
    assert first_key.stat().st_mode & 0o777 == 0o600  # the first key goes to a private file, not to the logs
    key = first_key.read_text().strip()
    body = {"model": "ohsumed-tfidf", "documents": [{"id": "a", "text": "Asthma exacerbations and inhaled steroids."}]}
    status, reply = post(f"{base}/v1/classify", body, key)
    assert status == 200 and reply["results"][0]["id"] == "a"
    status, reply = post(f"{base}/v1/classify", body, None)
    assert status == 401 and reply["error"]["code"] == "unauthorized"
    status, reply = post(f"{base}/v1/summarize", {"documents": [{"text": "One. Two three."}], "method": "lead",
                                                  "max_sentences": 1}, key)
    assert status == 200 and reply["results"][0]["summary"] == "One."
    audit = (Path(state) / "audit.jsonl").read_text()
    assert "Asthma" not in audit and audit.count("\n") == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_server_and_its_workers_allocate_with_mimalloc(server):
    import psutil

    from nlp.memory import mimalloc_library

    if mimalloc_library() is None:
        pytest.skip("cmeel-mimalloc is not installed")
    _, _, process = server
    master = psutil.Process(process.pid)  # the same process after it started itself again on mimalloc
    processes = [master, *master.children(recursive=True)]
    assert len(processes) >= 2  # gunicorn and its workers
    for each in processes:
        assert "libmimalloc" in Path(f"/proc/{each.pid}/maps").read_text(), each.cmdline()


def test_service_live_job_downloads_with_the_default_state_folder(server):
    base, state, process = server
    key = (state / "first-api-key").read_text().strip()
    documents = [{"id": "ok", "text": "Asthma exacerbations and inhaled steroids."}, {"id": "bad", "text": " "}]
    status, job = post(f"{base}/v1/jobs", {"operation": "classify", "model": "ohsumed-tfidf", "documents": documents},
                       key)
    assert status == 202
    deadline = time.time() + 60
    while json.loads(get(f"{base}/v1/jobs/{job['id']}", key))["status"] in ("QUEUED", "RUNNING"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert [json.loads(line)["id"] for line in get(f"{base}/v1/jobs/{job['id']}/results", key).splitlines()] == ["ok"]
    [error] = [json.loads(line) for line in get(f"{base}/v1/jobs/{job['id']}/errors", key).splitlines()]
    assert error == {"id": "bad", "source": "documents:2", "reason": "empty text"}


def start_server(port: int, state: Path):
    env = {**os.environ, "CLINNLP_SUMMARIZERS": "lead"}
    process = subprocess.Popen([*CLINNLP, "serve", "--port", str(port), "--state-dir", str(state), "--threads", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    wait_ready(f"http://127.0.0.1:{port}/readyz", process)
    return process


def get(url: str, key: str):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


@pytest.mark.slow
def test_service_job_survives_the_server_being_killed(tmp_path):
    """Kill -9 the whole server while a job runs; after a restart the job is re-run and completes."""
    port, state = free_port(), tmp_path / "state"
    process = start_server(port, state)
    base = f"http://127.0.0.1:{port}"
    key = subprocess.run([*CLINNLP, "keys", "--state-dir", str(state), "create", "kill-test"], capture_output=True,
                         text=True, check=True).stdout.split("key:")[1].split()[0]
    text = "Coronary angioplasty after myocardial infarction in patients with chest pain. " * 20
    documents = [{"id": f"d{i}", "text": text} for i in range(12000)]
    status, job = post(f"{base}/v1/jobs", {"operation": "classify", "model": "ohsumed-tfidf", "documents": documents},
                       key)
    assert status == 202
    try:
        deadline = time.time() + 120
        while json.loads(get(f"{base}/v1/jobs/{job['id']}", key))["progress"]["processed"] == 0:
            assert time.time() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the master and its workers, mid-job
        process.wait()
    process = start_server(port, state)
    try:
        deadline = time.time() + 300
        while (current := json.loads(get(f"{base}/v1/jobs/{job['id']}", key)))["status"] in ("QUEUED", "RUNNING"):
            assert time.time() < deadline, current
            time.sleep(0.5)
        assert current["status"] == "COMPLETED" and current["attempts"] == 2, current
        ids = [json.loads(line)["id"] for line in get(f"{base}/v1/jobs/{job['id']}/results", key).splitlines()]
        assert ids == [f"d{i}" for i in range(12000)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (no network)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert, private = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, private


@pytest.mark.slow
def test_service_serves_https_with_a_certificate(tmp_path):
    import ssl

    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {**os.environ, "CLINNLP_SUMMARIZERS": "lead", "CLINNLP_CLASSIFIERS": "ohsumed-tfidf"}
    process = subprocess.Popen([*CLINNLP, "serve", "--port", str(port), "--certfile", str(cert), "--keyfile", str(key)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.time() + 120
        while True:
            assert process.poll() is None, process.stderr.read()[-2000:]
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", timeout=2, context=context) as reply:
                    assert reply.status == 200
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.time() < deadline
                time.sleep(0.5)
        import http.client

        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):  # no plain HTTP
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
