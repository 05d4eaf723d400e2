"""Throughput and peak memory of `clinnlp classify` beside the bare scikit-learn pipeline.

Both run on the same OHSUMED abstracts (the shared training split, repeated to --documents), each in
its own process so that peak memory (max RSS) is its own:

- baseline: a plain ``TfidfVectorizer`` + ``CalibratedClassifierCV(LinearSVC)`` pipeline with the same
  settings as the default model, trained on the same data; it reads the texts into memory and calls
  ``predict_proba`` in one go (no output written, no explanations);
- ours: the real ``clinnlp classify --model ohsumed-tfidf`` command, streaming the JSONL file and
  writing labels, calibrated scores and explanations with offsets for every document.

The figure that matters is the overhead ratio, baseline docs/s over ours: it must stay at or below 1.25.

    .venv/bin/python benchmarks/classify_throughput.py [--documents 20000] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_OVERHEAD = 1.25


def write_input(path: Path, documents: int, data_dir: str | None) -> None:
    import corpora

    texts = corpora.load_corpus("ohsumed", data_dir)["train"]["text"]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(documents):
            handle.write(json.dumps({"id": str(i), "text": texts[i % len(texts)]}) + "\n")


def baseline_worker(input_path: str, data_dir: str | None) -> None:
    """Runs in its own process: train the bare pipeline, then time predict_proba on the input."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    import corpora

    train = corpora.load_corpus("ohsumed", data_dir)["train"]
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), stop_words="english", min_df=2, max_df=0.9, sublinear_tf=True),
        CalibratedClassifierCV(LinearSVC(C=1.0, random_state=0), method="sigmoid", ensemble=False,
                               cv=StratifiedKFold(5, shuffle=True, random_state=0)),
    ).fit(train["text"], train["label"])
    started = time.perf_counter()
    with open(input_path, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle]
    proba = pipeline.predict_proba(texts)
    seconds = time.perf_counter() - started
    print(json.dumps({"documents": len(proba), "seconds": seconds}))


def run_child(command: list[str]) -> tuple[str, str, float, float]:
    """Run a command; return its stdout, stderr, wall time and peak RSS in MB (wait4: it and its workers)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            sys.exit(f"failed: {' '.join(command)}\n{err.read()[-2000:]}")
        return out.read(), err.read(), wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=20000)
    parser.add_argument("--data-dir")
    parser.add_argument("--baseline-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_worker:
        baseline_worker(args.baseline_worker, args.data_dir)
        return

    with tempfile.TemporaryDirectory() as tmp:
        input_path, output = Path(tmp) / "abstracts.jsonl", Path(tmp) / "out.jsonl"
        write_input(input_path, args.documents, args.data_dir)
        extra = ["--data-dir", args.data_dir] if args.data_dir else []
        stdout, _, _, baseline_rss = run_child([sys.executable, __file__, "--baseline-worker", str(input_path), *extra])
        baseline = json.loads(stdout)
        clinnlp = str(Path(sys.executable).parent / "clinnlp")
        runs = []
        for label, options in (("clinnlp classify (workers = CPUs, the default)", []),
                               ("clinnlp classify --workers 1", ["--workers", "1"])):
            _, stderr, wall, rss = run_child([clinnlp, "classify", "--model", "ohsumed-tfidf", str(input_path),
                                              "-o", str(output), "--no-progress", *options])
            # The command reports the time of its classification loop: reading, classifying, writing.
            seconds = float(re.search(r" in ([0-9.]+) s \(", stderr).group(1))
            runs.append((label, sum(1 for _ in output.open()), seconds, wall, rss))

    baseline_rate = baseline["documents"] / baseline["seconds"]
    print(f"{args.documents} OHSUMED abstracts, {len(os.sched_getaffinity(0))} CPUs")
    print(f"{'path':50} {'docs':>6} {'docs/s':>7} {'with start-up':>14} {'peak RSS MB':>12}")
    print(f"{'scikit-learn pipeline (predict_proba, in memory)':50} {baseline['documents']:6d} "
          f"{baseline_rate:7.0f} {'':>14} {baseline_rss:12.0f}")
    for label, docs, seconds, wall, rss in runs:
        print(f"{label:50} {docs:6d} {docs / seconds:7.0f} {docs / wall:14.0f} {rss:12.0f}")
    print("docs/s: after start-up (imports, model load) for both; clinnlp's includes reading the JSONL file and\n"
          "writing labels, scores and explanations with offsets; the baseline only calls predict_proba.")
    ratios = [baseline_rate / (docs / seconds) for _, docs, seconds, _, _ in runs]
    print(f"overhead ratio, baseline docs/s over clinnlp docs/s: {ratios[0]:.2f} by default, "
          f"{ratios[1]:.2f} with --workers 1 (limit {MAX_OVERHEAD} for the default)")
    if ratios[0] > MAX_OVERHEAD:
        sys.exit(1)


if __name__ == "__main__":
    main()
