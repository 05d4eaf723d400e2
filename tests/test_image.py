"""The container image, run: ready, a key, a note classified and summarized over HTTP, non-root, read-only root.

The image is built by ``make image`` (``deploy/image/build.sh``) before the tests, never by them: the build
needs the package index, and the tests may run without a network. Run only these with ``make image-test``;
leave them out of a quick run with ``-m "not image"``. ``CLINNLP_IMAGE`` names another image to test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.test_service_live import free_port

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parent.parent
IMAGE_DIR = ROOT / "deploy" / "image"
IMAGE = os.environ.get("CLINNLP_IMAGE", "localhost/clinnlp:dev")
NOTE = ("CHIEF COMPLAINT: Chest pain. HISTORY OF PRESENT ILLNESS: The patient is a 64-year-old man with "
        "exertional chest pain for two weeks. Troponin was normal. Echocardiogram showed an ejection fraction "
        "of 55%. ASSESSMENT AND PLAN: Stable angina. Start aspirin and a beta blocker; stress test next week.")


def podman(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONTAINERS_CONF": str(IMAGE_DIR / "containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(IMAGE_DIR / "storage.conf")}
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} failed: {result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="module")
def image():
    if shutil.which("podman") is None or os.getuid() != 0:
        unavailable("the image: podman is missing or this is not root (make test installs podman as root)")
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        unavailable(f"the image: {IMAGE} is not built; run `make image` (it needs the package index)")
    sys.path.insert(0, str(IMAGE_DIR))
    from source_hash import source_hash

    built_from = podman("image", "inspect", "--format", '{{index .Labels "org.clinnlp.source"}}', IMAGE).stdout
    # CLINNLP_IMAGE_ANY_SOURCE=1 tests an image made elsewhere (a registry's) or from an earlier tree.
    if built_from.strip() != source_hash() and os.environ.get("CLINNLP_IMAGE_ANY_SOURCE") != "1":
        unavailable(f"the image: {IMAGE} was built from other sources than this tree; run `make image`")
    return IMAGE


@pytest.fixture(scope="module")
def container(image):
    """The image serving with its defaults, as Kubernetes runs it: read-only root, a writable state volume."""
    state = Path(tempfile.mkdtemp(prefix="clinnlp-image-state-"))
    os.chown(state, 10001, 0)
    name, port = f"clinnlp-test-{uuid.uuid4().hex[:8]}", free_port()
    # --no-healthcheck: podman runs the image's HEALTHCHECK through systemd timers, which this machine lacks.
    podman("run", "--detach", "--no-healthcheck", "--name", name, "--network", "host", "--read-only",
           "--volume", f"{state}:/app/var",
           "--env", f"CLINNLP_PORT={port}", image)
    base = f"http://127.0.0.1:{port}"
    try:
        started, deadline = time.time(), time.time() + 600
        while True:
            running = podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
            assert running == "true", podman("logs", name, check=False).stderr[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.time() < deadline, "not ready in 10 minutes"
            time.sleep(1)
        yield {"name": name, "base": base, "state": state, "ready_seconds": time.time() - started}
    finally:
        podman("rm", "--force", name, check=False)
        shutil.rmtree(state, ignore_errors=True)


def call(url: str, body: dict | None = None, key: str | None = None):
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (the container's gunicorn master and workers)."""
    children = subprocess.run(["ps", "--no-headers", "-o", "pid,ppid,rss", "-A"], capture_output=True,
                              text=True).stdout.split()
    rows = [tuple(map(int, children[i:i + 3])) for i in range(0, len(children), 3)]
    tree, total = {pid}, 0
    for _ in range(5):
        tree |= {p for p, parent, _ in rows if parent in tree}
    total = sum(rss for p, _, rss in rows if p in tree)
    return total / 1024


def test_image_serves_a_note_over_http_as_a_non_root_user(container, capsys):
    name, base = container["name"], container["base"]
    made = podman("exec", name, "clinnlp", "keys", "create", "image-test").stdout
    key = made.split("key:")[1].split()[0]
    status, ready = call(f"{base}/readyz")
    assert status == 200 and ready["classifiers"] and "extractive" in ready["summarizers"]

    status, reply = call(f"{base}/v1/classify", {"model": "mtsamples-tfidf", "documents": [{"id": "n1", "text": NOTE}]},
                         key)
    assert status == 200, reply
    assert reply["results"][0]["id"] == "n1" and reply["results"][0]["labels"]
    status, reply = call(f"{base}/v1/summarize", {"documents": [{"id": "n1", "text": NOTE}], "max_sentences": 2},
                         key)
    assert status == 200, reply
    summary = reply["results"][0]["summary"]
    assert summary and len(summary) < len(NOTE) and summary.split()[0] in NOTE
    assert call(f"{base}/v1/classify", {"documents": [{"text": NOTE}]}, None)[0] == 401

    # The server process itself (not only `exec`) runs as the image's user, and nothing is in the audit log.
    pid = int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout)
    uids = [line.split()[1:] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("Uid:")][0]
    assert set(uids) == {"10001"}, uids
    audit = (container["state"] / "audit.jsonl").read_text()
    assert "Troponin" not in audit and audit.count("\n") >= 2

    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    with capsys.disabled():
        print(f"\nimage {IMAGE}: {size / 1e6:.0f} MB; ready in {container['ready_seconds']:.0f} s; "
              f"memory after two requests {process_tree_rss_mb(pid):.0f} MB (RSS of the server's processes)")


def test_image_has_cpu_torch_ray_jobs_and_no_build_settings(image, container):
    """torch is the CPU build, Ray can take KubeRay's job submissions (its dashboard's job module imports),
    and the host's pip settings (indexes, find-links) did not end up in the image."""
    script = ("import os, subprocess, sys, torch; import ray.dashboard.modules.job.job_head; "
              "print(torch.version.cuda); "
              "print(subprocess.run([sys.executable, '-m', 'pip', 'config', 'list'], capture_output=True, "
              "text=True).stdout.strip() or 'no pip settings'); "
              "print(' '.join(os.listdir(os.path.dirname(os.path.dirname(torch.__file__)))))")
    result = podman("exec", container["name"], "python", "-c", script)  # a second `run` would copy 2.4 GB (vfs)
    cuda, pip_settings, packages = result.stdout.split("\n")[:3]
    assert (cuda, pip_settings) == ("None", "no pip settings"), result.stdout + result.stderr
    assert "torch" in packages and "nvidia" not in packages
    inspected = podman("image", "inspect", image).stdout + podman("history", "--no-trunc", image).stdout
    assert "/opt/pypi" not in inspected and "PIP_CONFIG_FILE" not in inspected


def test_image_serves_on_mimalloc(container):
    """The server (PID 1, started again with mimalloc preloaded) and every worker it forked allocate with
    mimalloc: the library and what it links load in the image."""
    script = ("import psutil; server = psutil.Process(1); "
              "processes = [server, *server.children(recursive=True)]; "
              "print(len(processes), sum('libmimalloc' in open(f'/proc/{p.pid}/maps').read() for p in processes))")
    result = podman("exec", container["name"], "python", "-c", script)
    processes, on_mimalloc = map(int, result.stdout.split())
    assert processes >= 2 and on_mimalloc == processes, result.stdout + result.stderr
