"""K-fold cross-validation of a model type on a shared corpus, with the settings of a committed model.

The committed default models report one dev split in their cards; this gives the spread over k folds
(grouped where the corpus needs it, stratified for single-label corpora).

    .venv/bin/python benchmarks/cross_validate.py --corpus ohsumed --model ohsumed-tfidf [--folds 5]
    .venv/bin/python benchmarks/cross_validate.py --corpus mtsamples --model mtsamples-tfidf
"""

from __future__ import annotations

import argparse

from corpora import get_corpus, load_corpus
from nlp.model_store import load_model
from nlp.training import TrainingData, cross_validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--model", required=True, help="committed model whose settings are used")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    info = get_corpus(args.corpus)
    data = TrainingData.from_dataset(load_corpus(args.corpus, args.data_dir)["train"], {}, info.label_names,
                                     info.grouped_by)
    estimator = load_model(args.model).estimator
    print(f"{args.corpus}: {len(data.texts)} documents, {args.folds} folds, settings of {args.model}: "
          f"{estimator.get_params()}")
    result = cross_validate(data, estimator, args.folds, progress=lambda number, m: print(
        f"fold {number}: accuracy {m['accuracy']:.4f}  micro-F1 {m['micro_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}"))
    summary = result.summary()
    print("mean:   " + "  ".join(f"{key} {value['mean']:.4f}±{value['std']:.4f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
