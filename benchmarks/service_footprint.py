"""What one service process needs and does: start-up time, memory, and batch-job throughput per operation.

The figures behind the Kubernetes requests and limits and the README's "Scaling out": starts ``clinnlp serve``
with its defaults (every model in ``models/``, every summarizer) and one gunicorn worker, then runs one job per
operation on OHSUMED abstracts, one at a time, and prints for each the documents per second of wall time and
per CPU-second used by the server (the figure that divides a daily volume into cores and replicas), and the
server's peak resident memory (master and worker together, sampled every 0.2 s).

    .venv/bin/python benchmarks/service_footprint.py [--documents 2000] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Not "from benchmarks.service_load": pysbd (medspaCy's sentence splitter) installs a package named "benchmarks",
# and a regular package wins over this folder (a namespace package) whatever the order of sys.path.
sys.path.insert(0, str(ROOT / "benchmarks"))
from service_load import free_port  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
# (label, job options, share of --documents): the slow operations get fewer documents, the same order of time.
CASES = [
    ("classify ohsumed-tfidf (explanations)", {"operation": "classify", "model": "ohsumed-tfidf"}, 1.0),
    ("classify ohsumed-transformer, explain=false",
     {"operation": "classify", "model": "ohsumed-transformer", "explain": False}, 0.1),
    ("classify ohsumed-ensemble, explain=false",
     {"operation": "classify", "model": "ohsumed-ensemble", "explain": False}, 0.1),
    ("summarize extractive", {"operation": "summarize", "method": "extractive", "max_words": 60}, 0.1),
    ("summarize lead", {"operation": "summarize", "method": "lead", "max_words": 60}, 1.0),
]


def tree(pid: int) -> list[int]:
    """The process and its descendants."""
    pids, found = [pid], True
    while found:
        found = False
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in pids:
                try:
                    parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if parent in pids:
                    pids.append(int(entry))
                    found = True
    return pids


def usage(pid: int) -> tuple[float, float]:
    """(resident MB, CPU seconds) of a process tree."""
    rss = cpu = 0.0
    for member in tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            rss += int(stat[21]) * os.sysconf("SC_PAGE_SIZE") / 1e6
            cpu += (int(stat[11]) + int(stat[12])) / TICKS
        except (OSError, IndexError, ValueError):
            continue
    return rss, cpu


def call(base: str, path: str, key: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=2000, help="documents in the fast operations' jobs")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    import corpora

    texts = corpora.load_corpus("ohsumed", args.data_dir)["train"]["text"][:args.documents]
    port, clinnlp = free_port(), str(Path(sys.executable).parent / "clinnlp")
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as state:
        key = subprocess.run([clinnlp, "keys", "--state-dir", state, "create", "footprint"], capture_output=True,
                             text=True, check=True).stdout.split("key:")[1].split()[0]
        started = time.perf_counter()
        server = subprocess.Popen([clinnlp, "serve", "--port", str(port), "--state-dir", state, "--workers", "1",
                                   "--threads", str(args.threads)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=open(Path(state) / "server.log", "wb"), start_new_session=True)
        peak, sampling = [0.0], threading.Event()

        def sample():
            while not sampling.wait(0.2):
                peak[0] = max(peak[0], usage(server.pid)[0])

        try:
            while True:
                try:
                    if call(base, "/readyz", key).get("status") == "ready":
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.perf_counter() - started > 600:
                    sys.exit("server did not start:\n" + (Path(state) / "server.log").read_text()[-3000:])
                time.sleep(0.5)
            ready_seconds = time.perf_counter() - started
            ready_rss, _ = usage(server.pid)
            threading.Thread(target=sample, daemon=True).start()
            print(f"clinnlp serve, 1 worker x {args.threads} threads, every default model, "
                  f"{len(os.sched_getaffinity(0))} CPUs: ready in {ready_seconds:.0f} s, {ready_rss:.0f} MB resident")
            print("| job | documents | seconds | docs/s | docs per CPU-second | peak RSS MB so far |")
            print("|---|---|---|---|---|---|")
            for label, options, share in CASES:
                count = max(20, int(len(texts) * share))
                body = {**options, "documents": [{"id": str(i), "text": t} for i, t in enumerate(texts[:count])]}
                _, cpu_before = usage(server.pid)
                wall = time.perf_counter()
                job = call(base, "/v1/jobs", key, body)
                while (status := call(base, f"/v1/jobs/{job['id']}", key))["status"] in ("QUEUED", "RUNNING"):
                    time.sleep(0.2)
                wall = time.perf_counter() - wall
                _, cpu_after = usage(server.pid)
                assert status["status"] == "COMPLETED", status
                print(f"| {label} | {count} | {wall:.1f} | {count / wall:.1f} | "
                      f"{count / max(cpu_after - cpu_before, 1e-9):.1f} | {peak[0]:.0f} |", flush=True)
        finally:
            sampling.set()
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
