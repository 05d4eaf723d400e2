"""The serving-throughput goals of issue #13, as ratios measured side by side in one run.

On the same OHSUMED abstracts (the first ``--documents`` of the training split):

- batch: the committed transformer classifying them all in one call, in this process (the CLI's path), with
  and without explanations;
- HTTP: ``clinnlp serve`` (default workers, dynamic batching on), one abstract per request, keep-alive clients,
  for the transformer without and with explanations at concurrency 32, the extractive summarizer at 1 and 8;
- a second server with batching off (``CLINNLP_BATCHING=false``) for the p50 latency at concurrency 1.

What a ratio compares takes turns (``--rounds`` each: a batch call, then the HTTP measurement, and again), so a
drift in the machine's speed hits both sides alike: on a shared 2-core machine one batch call of 200 abstracts
ran anywhere from 40 to 52 documents/s between runs.

Prints each figure and each ratio beside its goal. Absolute figures move with the machine's load; the ratios
are what to compare.

    .venv/bin/python benchmarks/serving_ratios.py [--seconds 15] [--documents 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import hammer, running_server  # noqa: E402

MODEL = "ohsumed-transformer"


class BatchPath:
    """The service's own classification writer, in this process, on all ``texts`` in one call."""

    def __init__(self, texts: list[str]):
        from nlp.documents import Document
        from service.registry import Registry

        self.registry = Registry.load((MODEL,), ())
        self.documents = [Document(str(i), text, "x") for i, text in enumerate(texts)]
        for explain in (False, True):
            self.registry.classify(MODEL, self.documents[:8], explain=explain)  # warm

    def seconds(self, explain: bool) -> float:
        started = time.perf_counter()
        self.registry.classify(MODEL, self.documents, explain=explain)
        return time.perf_counter() - started


def http_rate(port: int, key: str, path: str, options: dict, texts: list[str], concurrency: int,
              seconds: float, warm: bool = True) -> tuple[float, float]:
    """Requests per second and p50 latency in ms, one abstract per request."""
    bodies = [json.dumps({**options, "documents": [{"id": "1", "text": text}]}).encode() for text in texts]
    if warm:
        hammer(port, path, bodies, key, concurrency, min(seconds, 3))  # warm every worker and thread
    latencies, failures, wall = hammer(port, path, bodies, key, concurrency, seconds)
    if failures:
        print(f"  {len(failures)} failed requests", file=sys.stderr)
    return len(latencies) / wall, float(np.percentile(np.array(latencies or [np.nan]) * 1000, 50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="seconds per HTTP measurement")
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4,
                        help="turns each side of a ratio takes (the batch path and HTTP; batching on and off)")
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    import corpora

    texts = list(corpora.load_corpus("ohsumed", args.data_dir)["train"]["text"][:args.documents])
    batch = BatchPath(texts)
    env = {"CLINNLP_CLASSIFIERS": MODEL, "CLINNLP_SUMMARIZERS": "extractive", "CLINNLP_ANALYZER": "false",
           "CLINNLP_MAX_IN_FLIGHT": "64", "CLINNLP_RATE_LIMIT": "0"}
    classify = {"model": MODEL, "explain": False}
    turn = args.seconds / args.rounds
    figures, batch_seconds = {}, {False: 0.0, True: 0.0}
    with running_server({**env, "CLINNLP_BATCHING": "true"}) as (port, key), \
            running_server({**env, "CLINNLP_BATCHING": "false"}) as (port_off, key_off):
        http_rate(port, key, "/v1/classify", classify, texts, 32, 3)  # warm every worker and thread
        turns = {"c32": [], "c32 explain": []}
        for _ in range(args.rounds):
            for explain in (False, True):
                batch_seconds[explain] += batch.seconds(explain)
            turns["c32"].append(http_rate(port, key, "/v1/classify", classify, texts, 32, turn, warm=False))
            turns["c32 explain"].append(http_rate(port, key, "/v1/classify", {**classify, "explain": True}, texts,
                                                  32, turn, warm=False))
        for name, measured in turns.items():
            figures[name] = (float(np.mean([rate for rate, _ in measured])),
                             float(np.median([p50 for _, p50 in measured])))
        cli, cli_explain = (args.rounds * len(texts) / batch_seconds[explain] for explain in (False, True))
        print(f"batch, one call: {cli:.1f} docs/s without explanations, {cli_explain:.1f} with "
              f"({args.rounds} calls each)", flush=True)
        summarize = {"method": "extractive", "max_words": 60}
        figures["sum c1"] = http_rate(port, key, "/v1/summarize", summarize, texts, 1, args.seconds)
        figures["sum c8"] = http_rate(port, key, "/v1/summarize", summarize, texts, 8, args.seconds)
        latency = {"true": [], "false": []}
        for _ in range(args.rounds):
            for batching, (server_port, server_key) in (("true", (port, key)), ("false", (port_off, key_off))):
                latency[batching].append(http_rate(server_port, server_key, "/v1/classify", classify, texts, 1,
                                                   turn))
        for batching, measured in latency.items():
            figures[batching, "c1"] = (float(np.mean([rate for rate, _ in measured])),
                                       float(np.median([p50 for _, p50 in measured])))
    names = {("true", "c1"): "transformer c1, batching on", ("false", "c1"): "transformer c1, batching off",
             "c32": "transformer c32", "c32 explain": "transformer c32 with explanations",
             "sum c1": "extractive c1", "sum c8": "extractive c8"}
    for name, (rate, p50) in figures.items():
        print(f"  HTTP {names[name]}: {rate:.1f} requests/s, p50 {p50:.0f} ms")

    rows = [
        ("HTTP transformer c32, no explanations / batch", figures["c32"][0] / cli, ">= 0.8"),
        ("HTTP transformer c32, explanations / batch without", figures["c32 explain"][0] / cli, ">= 0.5"),
        ("batch with explanations / without", cli_explain / cli, ">= 0.5"),
        ("HTTP extractive summaries c8 / c1", figures["sum c8"][0] / figures["sum c1"][0], ">= 1.6"),
        ("p50 at c1, batching on / off", figures["true", "c1"][1] / figures["false", "c1"][1], "<= 1 (noise)"),
    ]
    print("| ratio | measured | goal |\n|---|---|---|")
    for name, value, goal in rows:
        print(f"| {name} | {value:.2f} | {goal} |")


if __name__ == "__main__":
    main()
