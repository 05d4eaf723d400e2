"""Nothing in de-identification reaches for the network: spaCy's model and the public suffix list are local."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest

SCRIPT = """
from nlp.privacy import Deidentifier
[result] = Deidentifier().deidentify(["Write to rosalind.okafor@example.org or see https://example.org/x, Dr. Okafor."])
assert "[EMAIL]" in result.text and "[URL]" in result.text and "[NAME]" in result.text, result.text
print("ok")
"""


def test_email_recognizer_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from nlp.privacy.recognizers import OfflineEmailRecognizer

    found = OfflineEmailRecognizer().analyze("mail rosalind.okafor@example.co.uk today", ["EMAIL_ADDRESS"])
    assert [(r.start, r.end) for r in found] == [(5, 34)]


@pytest.mark.slow
def test_deidentify_runs_in_a_process_without_a_network(tmp_path):
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
        pytest.skip("cannot make a network namespace here (unshare -n)")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run = subprocess.run(["unshare", "-n", sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=300, env=env, cwd=str(tmp_path), check=False)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]
