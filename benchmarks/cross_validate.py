"""K-fold cross-validation of committed models' settings on a shared corpus, side by side.

Each model's settings (not its weights) are refitted on k-1 folds and scored on the k-th, k times, on the same
folds for every model (grouped where the corpus needs it, stratified for single-label corpora: the folds
``clinnlp train --cv`` chooses settings on). Frozen-encoder transformer models read each text once (training's
vector memory, :mod:`nlp.classifiers.vector_cache`); an ensemble refits its members on inner folds too.

    .venv/bin/python benchmarks/cross_validate.py --corpus ohsumed --model ohsumed-tfidf --model ohsumed-transformer
    .venv/bin/python benchmarks/cross_validate.py --corpus mtsamples --model mtsamples-tfidf [--folds 5]
    .venv/bin/python benchmarks/cross_validate.py --corpus hallmarks --model hoc-ensemble --set combine=features

``--set NAME=VALUE`` changes a setting of every model named (a setting not yet tried, beside the committed one).
"""

from __future__ import annotations

import argparse
import time

from corpora import get_corpus, load_corpus
from nlp.classifiers.vector_cache import remembering
from nlp.cli import parse_params
from nlp.model_store import load_model
from nlp.training import TrainingData, cross_validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--model", required=True, action="append", help="committed model whose settings are used "
                                                                          "(repeat for several)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting changed on every model (JSON value, else text)")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    changes = parse_params(args.set)

    info = get_corpus(args.corpus)
    data = TrainingData.from_dataset(load_corpus(args.corpus, args.data_dir)["train"], {}, info.label_names,
                                     info.grouped_by)
    print(f"{args.corpus}: {len(data.texts)} documents, {args.folds} folds", flush=True)
    rows = []
    with remembering():
        for name in args.model:
            estimator = load_model(name).estimator.set_params(**changes)
            name = name + "".join(f" {key}={value}" for key, value in changes.items())
            print(f"{name}: settings {estimator.get_params()}", flush=True)
            started = time.perf_counter()
            result = cross_validate(data, estimator, args.folds, progress=lambda number, m: print(
                f"  fold {number}: accuracy {m['accuracy']:.4f}  micro-F1 {m['micro_f1']:.4f}  "
                f"macro-F1 {m['macro_f1']:.4f}", flush=True))
            rows.append((name, result.summary(), time.perf_counter() - started))
    print("\n| model | accuracy | micro-F1 | macro-F1 | ECE | seconds |\n|---|---|---|---|---|---|")
    for name, summary, seconds in rows:
        print(f"| {name} | " + " | ".join(f"{summary[key]['mean']:.4f} ± {summary[key]['std']:.4f}"
                                          for key in ("accuracy", "micro_f1", "macro_f1", "ece")) + f" | {seconds:.0f} |")


if __name__ == "__main__":
    main()
