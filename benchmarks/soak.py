"""Soak test: a steady mix of requests and jobs for a long time, sampling the server's memory.

Starts ``clinnlp serve`` (gunicorn, default 2 workers) on a free port with a temporary state folder, then for
``--minutes`` keeps ``--clients`` keep-alive clients busy with one-abstract requests (by default half TF-IDF
classification, 30% transformer classification of which a fifth with explanations, 20% extractive summaries) and
submits a ``--job-documents``-document classification job every ``--job-every`` seconds. Every ``--sample``
seconds it records the resident memory (RSS) of each server process. At the end it prints the series, the request
and job outcomes, and the growth after the warm-up (``--warmup`` minutes): first and last sample, per cent, and
the least-squares slope in MiB per hour.

    .venv/bin/python benchmarks/soak.py --minutes 60 [--clients 16] [--workers 2] [--env MALLOC_ARENA_MAX=2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_memory(master: psutil.Process) -> dict[str, float]:
    """RSS in MiB of the gunicorn master and each worker."""
    memory = {}
    for process in [master, *master.children(recursive=True)]:
        try:
            memory[f"{'master' if process.pid == master.pid else 'worker'}-{process.pid}"] = \
                process.memory_info().rss / 2**20
        except psutil.Error:
            pass
    return memory


class Mix:
    """The request mix: (path, body) pairs drawn with the given shares."""

    def __init__(self, texts: list[str], tfidf: str, transformer: str, shares: dict[str, float], seed: int = 0):
        self.random = random.Random(seed)
        self.texts = texts
        self.kinds = list(shares)
        self.weights = [shares[k] for k in self.kinds]
        self.tfidf, self.transformer = tfidf, transformer

    def draw(self) -> tuple[str, str, bytes]:
        kind = self.random.choices(self.kinds, self.weights)[0]
        text = self.random.choice(self.texts)
        documents = [{"id": "1", "text": text}]
        if kind == "tfidf":
            return kind, "/v1/classify", json.dumps({"model": self.tfidf, "documents": documents}).encode()
        if kind.startswith("transformer"):
            explain = kind == "transformer+explain"
            return kind, "/v1/classify", json.dumps({"model": self.transformer, "explain": explain,
                                                    "documents": documents}).encode()
        if kind in ("analyze", "deidentify"):  # the clinical analysis and de-identification endpoints
            return kind, f"/v1/{kind}", json.dumps({"documents": documents}).encode()
        return kind, "/v1/summarize", json.dumps({"method": "extractive", "max_words": 60,
                                                  "documents": documents}).encode()


def client(port: int, key: str, mix: Mix, stop: threading.Event, outcomes: Counter, lock: threading.Lock):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    while not stop.is_set():
        with lock:
            kind, path, body = mix.draw()
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            status = type(error).__name__
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        with lock:
            outcomes[(kind, status)] += 1


def request_json(port: int, key: str, method: str, path: str, body: bytes | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request(method, path, body, {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    data = response.read()
    return response.status, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=2, help="minutes left out of the growth figures")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sample", type=float, default=10, help="seconds between memory samples")
    parser.add_argument("--job-every", type=float, default=20)
    parser.add_argument("--job-documents", type=int, default=200)
    parser.add_argument("--tfidf", default="ohsumed-tfidf")
    parser.add_argument("--transformer", default="ohsumed-transformer")
    parser.add_argument("--shares", default="tfidf=0.4,transformer=0.2,transformer+explain=0.05,summarize=0.15,"
                                            "analyze=0.1,deidentify=0.1",
                        help="kinds of request and their shares: tfidf, transformer, transformer+explain, summarize, "
                             "analyze, deidentify (the issue's first mix: tfidf=0.5,transformer=0.24,"
                             "transformer+explain=0.06,summarize=0.2)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server (e.g. MALLOC_ARENA_MAX=2); repeatable")
    parser.add_argument("--json", type=Path, help="also write every sample and outcome here")
    parser.add_argument("--from-json", type=Path, help="print the report of a run saved with --json, and stop")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        outcomes = Counter({tuple(key.split("|", 1)): count for key, count in saved["requests"].items()})
        args.json = None
        report(saved["samples"], outcomes, Counter(saved["jobs"]), args)
        return

    import corpora

    texts = list(corpora.load_corpus("ohsumed")["train"]["text"][:1000])
    shares = {name: float(value) for name, value in (part.split("=") for part in args.shares.split(","))}
    mix = Mix(texts, args.tfidf, args.transformer, shares)
    port = free_port()
    with tempfile.TemporaryDirectory() as state:
        clinnlp = str(Path(sys.executable).parent / "clinnlp")
        key = subprocess.run([clinnlp, "keys", "--state-dir", state, "create", "soak"], capture_output=True,
                             text=True, check=True).stdout.split("key:")[1].split()[0]
        env = {**os.environ, "CLINNLP_CLASSIFIERS": f"{args.tfidf},{args.transformer}",
               "CLINNLP_SUMMARIZERS": "extractive,lead", "CLINNLP_MAX_IN_FLIGHT": "64", "CLINNLP_RATE_LIMIT": "0",
               "CLINNLP_MAX_UNFINISHED_JOBS": "0",
               **dict(item.split("=", 1) for item in args.env)}
        server = subprocess.Popen([clinnlp, "serve", "--port", str(port), "--state-dir", state, "--workers",
                                   str(args.workers), "--threads", str(args.threads)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=open(Path(state) / "server.log", "wb"),
                                  start_new_session=True)
        master = psutil.Process(server.pid)
        try:
            deadline = time.time() + 300
            while True:
                try:
                    if request_json(port, key, "GET", "/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("server did not start:\n" + (Path(state) / "server.log").read_text()[-3000:])
                time.sleep(1)
            time.sleep(5 * args.workers)  # every worker loads its models
            print(f"soak: {args.minutes:g} min, {args.clients} clients, {args.workers} workers x {args.threads} "
                  f"threads, shares {shares}, a {args.job_documents}-document job every {args.job_every:g} s, "
                  f"server env {args.env or 'default'}", flush=True)
            stop, lock, outcomes = threading.Event(), threading.Lock(), Counter()
            clients = [threading.Thread(target=client, args=(port, key, mix, stop, outcomes, lock), daemon=True)
                       for _ in range(args.clients)]
            for thread in clients:
                thread.start()
            jobs, samples = [], []
            started = time.monotonic()
            next_job = next_sample = started
            job_body = json.dumps({"operation": "classify", "model": args.tfidf, "documents": [
                {"id": str(i), "text": texts[i % len(texts)]} for i in range(args.job_documents)]}).encode()
            while (now := time.monotonic()) - started < args.minutes * 60:
                if now >= next_job:
                    status, data = request_json(port, key, "POST", "/v1/jobs", job_body)
                    jobs.append(json.loads(data)["id"] if status == 202 else f"refused {status}")
                    next_job += args.job_every
                if now >= next_sample:
                    memory = server_memory(master)
                    samples.append({"minute": round((now - started) / 60, 2), "total": round(sum(memory.values()), 1),
                                    **{k: round(v, 1) for k, v in memory.items()}})
                    print(f"  {samples[-1]['minute']:6.2f} min  total {samples[-1]['total']:8.1f} MiB  "
                          f"requests {sum(outcomes.values())}", flush=True)
                    next_sample += args.sample
                time.sleep(0.2)
            stop.set()
            for thread in clients:
                thread.join(timeout=300)
            finished = Counter()
            for job_id in jobs:
                if job_id.startswith("refused"):
                    finished[job_id] += 1
                    continue
                for _ in range(600):
                    status = json.loads(request_json(port, key, "GET", f"/v1/jobs/{job_id}")[1])
                    if status["status"] not in ("QUEUED", "RUNNING"):
                        break
                    time.sleep(1)
                complete = status["status"] == "COMPLETED" and status["progress"]["processed"] == args.job_documents
                finished["complete" if complete else status["status"]] += 1
        finally:
            alive = server.poll() is None
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
            if not alive:
                print("the server exited early:\n" + (Path(state) / "server.log").read_text()[-3000:], file=sys.stderr)

    report(samples, outcomes, finished, args)


def report(samples: list[dict], outcomes: Counter, jobs: Counter, args) -> None:
    by_status = Counter()
    for (kind, status), count in outcomes.items():
        by_status[status] += count
    print(f"requests: {sum(outcomes.values())} ({dict(by_status)}); by kind: "
          + ", ".join(f"{k} {sum(c for (kk, _), c in outcomes.items() if kk == k)}" for k in sorted({k for k, _ in outcomes})))
    print(f"jobs: {sum(jobs.values())} ({dict(jobs)})")
    series = [s["total"] for s in samples]
    print("total RSS (MiB) every {:g} s: {}".format(args.sample, ", ".join(f"{v:.0f}" for v in series)))
    after = [s for s in samples if s["minute"] >= args.warmup]
    if len(after) >= 2:
        minutes = np.array([s["minute"] for s in after])
        totals = np.array([s["total"] for s in after])
        slope, start = np.polyfit(minutes, totals, 1)
        growth = (totals[-1] - totals[0]) / totals[0] * 100
        print(f"after {args.warmup:g} min of warm-up: {totals[0]:.0f} -> {totals[-1]:.0f} MiB ({growth:+.1f}%), "
              f"slope {slope * 60:+.1f} MiB/hour, max {totals.max():.0f} MiB")
        # Memory given back to the system every few seconds makes single samples jump by a few hundred MiB:
        # the fitted line and the medians of the first and last windows say more than two samples.
        span = minutes[-1] - minutes[0]
        print(f"  fitted line: {start + slope * minutes[0]:.0f} -> {start + slope * minutes[-1]:.0f} MiB "
              f"({slope * span / (start + slope * minutes[0]) * 100:+.1f}% over {span:.0f} min)")
        window = round(min(5.0, span / 4), 1)
        first = totals[minutes <= minutes[0] + window]
        last = totals[minutes >= minutes[-1] - window]
        print(f"  first {window:g} min: median {np.median(first):.0f}, max {first.max():.0f} MiB; last {window:g} min: "
              f"median {np.median(last):.0f} ({(np.median(last) / np.median(first) - 1) * 100:+.1f}%), "
              f"max {last.max():.0f} MiB ({(last.max() / first.max() - 1) * 100:+.1f}%)")
        for name in [k for k in after[-1] if k.startswith("worker") or k.startswith("master")]:
            values = [s[name] for s in after if name in s]
            if len(values) >= 2:
                print(f"  {name}: {values[0]:.0f} -> {values[-1]:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"samples": samples, "jobs": dict(jobs),
                                         "requests": {f"{k}|{s}": c for (k, s), c in outcomes.items()}}, indent=1))


if __name__ == "__main__":
    main()
