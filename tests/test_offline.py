"""Offline, proven: the main commands and the service run with the network cut (a network namespace with only
loopback up) and empty caches, from the installed packages and the committed models alone."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _can_cut_network() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _can_cut_network(), reason="LOUD: cannot create a network namespace here "
                                "(needs root or user namespaces, and unshare/ip): the offline proof did not run")


def offline(command: list[str], tmp_path: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``command`` with only loopback up and empty home and cache folders (nothing cached helps it)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "CLINNLP_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), HF_HOME=str(home / ".cache" / "hf"))
    inner = "ip link set lo up && exec \"$@\""
    return subprocess.run(["unshare", "-n", "--", "sh", "-c", inner, "sh", *command], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_offline_the_network_really_is_cut(tmp_path):
    probe = offline([sys.executable, "-c", textwrap.dedent("""
        import socket, sys
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=3)
        except OSError as error:
            print("refused", type(error).__name__)
            sys.exit(0)
        sys.exit(1)
    """)], tmp_path)
    assert probe.returncode == 0 and "refused" in probe.stdout


def test_offline_tests_refuse_the_network_naming_what_tried():
    from tests.conftest import NetworkAccessError

    with pytest.raises(NetworkAccessError, match="pypi.org"):
        socket.create_connection(("pypi.org", 443), timeout=3)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ohsumed-tfidf", "ohsumed-transformer", "ohsumed-ensemble"])
def test_offline_classify_with_every_model_type(tmp_path, model):
    out = tmp_path / "out.jsonl"
    run = offline([sys.executable, "-m", "nlp.cli", "classify", "--model", model, str(EXAMPLES / "abstracts.jsonl"),
                   "-o", str(out), "--no-progress"], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(results) == 5 and all(r["explanation"] for r in results)


@pytest.mark.slow
def test_offline_summarize_and_mine(tmp_path):
    summaries = tmp_path / "s.jsonl"
    run = offline([sys.executable, "-m", "nlp.cli", "summarize", str(EXAMPLES / "notes.jsonl"), "-o", str(summaries),
                   "--max-words", "40", "--no-progress"], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert all(json.loads(line)["summary"] for line in summaries.read_text().splitlines())
    run = offline([sys.executable, "-m", "nlp.cli", "mine", str(EXAMPLES / "abstracts.jsonl"), "-o",
                   str(tmp_path / "mining"), "--summarizer", "extractive", "--no-progress"], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "mining" / "report.html").stat().st_size > 0


DRIVER = textwrap.dedent("""
    import json, os, signal, socket, subprocess, sys, time, urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "nlp.cli", "serve", "--port", str(port), "--threads", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            if server.poll() is not None:
                sys.exit("server exited: " + server.stderr.read()[-2000:])
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                    ready = json.loads(response.read())
                    break
            except OSError:
                if time.time() > deadline:
                    sys.exit("not ready in time")
                time.sleep(0.5)
        key = open("var/first-api-key").read().strip()
        def post(path, body):
            request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())
        text = "Asthma exacerbations in children treated with inhaled steroids. Admissions fell by half."
        classified = post("/v1/classify", {"model": "ohsumed-ensemble", "documents": [{"text": text}]})
        summarized = post("/v1/summarize", {"documents": [{"text": text}], "max_sentences": 1})
        print(json.dumps({"classifiers": ready["classifiers"], "label": classified["results"][0]["labels"],
                          "summary": summarized["results"][0]["summary"]}))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
""")


@pytest.mark.slow
def test_offline_service_reaches_readyz_and_answers(tmp_path):
    run = offline([sys.executable, "-c", DRIVER], tmp_path)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"ohsumed-tfidf", "ohsumed-transformer", "ohsumed-ensemble"} <= set(answer["classifiers"])
    assert answer["label"] and answer["summary"]
