"""Documents/s and peak memory of `clinnlp mine` for each engine and input size.

The shared corpora hold about 3,400 OHSUMED abstracts, so larger inputs repeat them (each copy gets its
own id and year): the figures measure throughput and memory growth, not what a collection of 100,000
distinct abstracts would say. Each run is a fresh `clinnlp mine` process; peak memory is sampled every
0.2 s as the summed RSS of that process, its children and (for Ray) every Ray worker process.

    .venv/bin/python benchmarks/mining_scale.py [--sizes 1000 10000] [--engines local ray] \\
        [--summarizer lead] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_input(path: Path, documents: int, data_dir: str | None) -> None:
    import corpora

    train = corpora.load_corpus("ohsumed", data_dir)["train"]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(documents):
            j = i % len(train)
            title, _, abstract = train["text"][j].partition("\n")
            handle.write(json.dumps({"id": f"{train['id'][j]}-{i // len(train)}", "title": title,
                                     "abstract": abstract or title, "year": 1987 + i % 5}) + "\n")


def peak_rss(process: subprocess.Popen, engine: str) -> tuple[float, threading.Thread]:
    import psutil

    peak = [0.0]

    def sample():
        root = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                procs = [root, *root.children(recursive=True)]
                if engine == "ray":
                    procs += [p for p in psutil.process_iter(["name", "cmdline"])
                              if (p.info["name"] or "").startswith(("ray::", "raylet", "gcs_server"))
                              and p not in procs]
                total = 0
                for proc in procs:
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], total / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return peak, thread


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--engines", nargs="+", default=["local", "ray"])
    parser.add_argument("--summarizer", default="lead")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            input_path = Path(folder) / f"abstracts-{size}.jsonl"
            write_input(input_path, size, args.data_dir)
            for engine in args.engines:
                out = Path(folder) / f"out-{size}-{engine}"
                command = [sys.executable, "-m", "nlp.cli", "mine", str(input_path), "-o", str(out),
                           "--engine", engine, "--workers", str(args.workers), "--summarizer", args.summarizer,
                           "--shard-size", str(args.shard_size), "--no-progress"]
                started = time.perf_counter()
                process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                           text=True)
                peak, sampler = peak_rss(process, engine)
                _, stderr = process.communicate()
                seconds = time.perf_counter() - started
                sampler.join(timeout=1)
                if process.returncode != 0:
                    print(stderr[-2000:], file=sys.stderr)
                    return 1
                rows.append((size, engine, seconds, size / seconds, peak[0]))
                print(f"{size:>7} {engine:6} {seconds:8.1f} s {size / seconds:8.1f} docs/s  peak {peak[0]:7.0f} MiB",
                      flush=True)
    print("\n| documents | engine | seconds | docs/s | peak memory (MiB) |\n|---|---|---|---|---|")
    for size, engine, seconds, rate, memory in rows:
        print(f"| {size:,} | {engine} | {seconds:.0f} | {rate:.1f} | {memory:.0f} |")
    print(f"\n({args.workers} workers, summarizer {args.summarizer}, shards of {args.shard_size}; inputs repeat "
          "the shared OHSUMED abstracts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
