"""Load test of the HTTP API on loopback, beside the same work done in-process.

Starts ``clinnlp serve`` (gunicorn) on a free port with a temporary state folder, makes an API key, and
for each OHSUMED classifier in the models folder, each summarizer, and each concurrency (1, 8, 32 client threads, each with its own keep-alive connection)
sends requests for ``--seconds``: one OHSUMED abstract per request (MTSamples-length notes for
summarization are not needed: the cost is per sentence). Prints requests/s, p50 and p99 latency and
failed requests, and the in-process rate of the same calls (no HTTP) as the ceiling.

    .venv/bin/python benchmarks/service_load.py [--seconds 10] [--workers 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SUMMARY_CASES = [
    ("summarize extractive", "/v1/summarize", {"method": "extractive", "max_words": 60}),
    ("summarize lead", "/v1/summarize", {"method": "lead", "max_words": 60}),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(env: dict, workers: int = 2, threads: int = 8):
    """``clinnlp serve`` on a free port with a temporary state folder and ``env`` on top of this process's
    environment, every worker's models loaded; yields ``(port, api_key)`` and stops the server after."""
    port = free_port()
    with tempfile.TemporaryDirectory() as state:
        clinnlp = str(Path(sys.executable).parent / "clinnlp")
        key = subprocess.run([clinnlp, "keys", "--state-dir", state, "create", "load"], capture_output=True,
                             text=True, check=True).stdout.split("key:")[1].split()[0]
        server = subprocess.Popen([clinnlp, "serve", "--port", str(port), "--state-dir", state, "--workers",
                                   str(workers), "--threads", str(threads)], env={**os.environ, **env}, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=open(Path(state) / "server.log", "wb"),
                                  start_new_session=True)
        try:
            deadline = time.time() + 300
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    connection.request("GET", "/readyz")
                    if connection.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("server did not start:\n" + (Path(state) / "server.log").read_text()[-3000:])
                time.sleep(0.5)
            time.sleep(2 * workers)  # every worker loads its models
            yield port, key
        finally:
            if server.poll() is not None:
                print("the server exited early:\n" + (Path(state) / "server.log").read_text()[-3000:], file=sys.stderr)
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


def hammer(port: int, path: str, bodies: list[bytes], key: str, concurrency: int, seconds: float):
    latencies, failures, statuses = [], [], []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(offset: int):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = offset
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            i += concurrency
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json",
                                                        "Authorization": f"Bearer {key}"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
                if not ok:
                    statuses.append(response.status)
            except (OSError, http.client.HTTPException) as error:
                ok = False
                statuses.append(type(error).__name__)
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                (latencies if ok else failures).append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if statuses:
        print(f"  failed requests: {sorted(set(map(str, statuses)))}", file=sys.stderr)
    return latencies, failures, time.perf_counter() - started


def in_process(texts: list[str], case: tuple, seconds: float) -> float:
    from nlp.documents import Document
    from service.registry import Registry

    _, path, options = case
    registry = Registry.load((options["model"],) if "model" in options else (),
                             (options["method"],) if "method" in options else ())
    done, stop_at = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < stop_at:
        text = texts[done % len(texts)]
        if path == "/v1/classify":
            registry.classify(options["model"], [Document("1", text, "x")], explain=options.get("explain", True))
        else:
            registry.summarizers[options["method"]].summarize([text], max_words=options["max_words"])
        done += 1
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    import corpora

    texts = corpora.load_corpus("ohsumed", args.data_dir)["train"]["text"][:500]
    env = {"CLINNLP_SUMMARIZERS": "extractive,lead", "CLINNLP_MAX_IN_FLIGHT": "64"}
    with running_server(env, args.workers, args.threads) as (port, key):
        print(f"{args.workers} gunicorn workers x {args.threads} threads, {len(os.sched_getaffinity(0))} CPUs, "
              f"{args.seconds:.0f} s per row, one abstract per request")
        print("| endpoint | concurrency | requests/s | p50 ms | p99 ms | failed | in-process calls/s |")
        print("|---|---|---|---|---|---|---|")
        from nlp.model_store import list_models

        cases = [(f"classify {meta['name']}", "/v1/classify", {"model": meta["name"]})
                 for meta in list_models() if meta["name"].startswith("ohsumed")]
        # Transformer explanations need a backward pass: their models also get a row without them.
        cases += [(f"{name}, explain=false", path, {**options, "explain": False})
                  for name, path, options in cases if "tfidf" not in options["model"]]
        cases += SUMMARY_CASES
        for case in cases:
            name, path, options = case
            bodies = [json.dumps({**options, "documents": [{"id": "1", "text": t}]}).encode() for t in texts]
            ceiling = None
            for concurrency in (1, 8, 32):
                latencies, failures, wall = hammer(port, path, bodies, key, concurrency, args.seconds)
                if ceiling is None:
                    ceiling = in_process(texts, case, min(args.seconds, 5))
                ms = np.array(latencies or [float("nan")]) * 1000
                print(f"| {name} | {concurrency} | {len(latencies) / wall:.1f} | {np.percentile(ms, 50):.0f} | "
                      f"{np.percentile(ms, 99):.0f} | {len(failures)} | {ceiling:.1f} |", flush=True)


if __name__ == "__main__":
    main()
