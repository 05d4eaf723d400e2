"""The README's quick start runs as written: its shell block, copied from the README, against `clinnlp serve`
started as `make serve` starts it (default settings, state in `var/` of the working folder)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.test_service_live import CLINNLP, free_port, wait_ready

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(name: str) -> str:
    """The fenced shell block that follows the ``<!-- readme-test: NAME ...-->`` marker."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- readme-test: " + re.escape(name) + r"\b[^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert match, f"README has no block marked readme-test: {name}"
    return match.group(1)


def test_readme_quick_start_block_is_marked_and_uses_the_first_key_file():
    block = readme_block("quickstart")
    assert "export KEY=$(cat var/first-api-key)" in block and "localhost:8000" in block
    assert "note.txt" in block.split("--data-binary @note.txt")[0]  # the file it sends is made first


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="LOUD: curl is not installed: the README examples did not run")
def test_readme_quick_start_runs_against_a_live_server(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINNLP_")}
    server = subprocess.Popen([*CLINNLP, "serve", "--port", str(port)], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", server, seconds=300)
        script = readme_block("quickstart").replace("localhost:8000", f"127.0.0.1:{port}")
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                             text=True, timeout=600, env=env)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    answers = []
    for line in run.stdout.splitlines():
        try:
            answers.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    classified, summarized, uploaded = answers[:3]
    assert classified["results"][0]["labels"] and classified["model"]["name"] == "ohsumed-tfidf"
    assert "ST-elevation myocardial infarction" in summarized["results"][0]["summary"]
    assert uploaded["model"]["name"] == "mtsamples-tfidf" and "explanation" not in uploaded["results"][0]
    results = [a for a in answers[3:] if "summary" in a]
    assert [r["id"] for r in results] == ["n1", "n2"]
    assert answers[-1]["data"]["available"] is False  # the job's files were deleted
