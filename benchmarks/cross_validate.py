"""K-fold cross-validation of a model type on a shared corpus, with the settings of a committed model.

The committed default models report one dev split in their cards; this gives the spread over k folds
(grouped where the corpus needs it, stratified for single-label corpora).

    .venv/bin/python benchmarks/cross_validate.py --corpus ohsumed --model ohsumed-tfidf [--folds 5]
    .venv/bin/python benchmarks/cross_validate.py --corpus mtsamples --model mtsamples-tfidf
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

from corpora import get_corpus, load_corpus
from nlp.classifiers import get_classifier
from nlp.evaluation import classification_metrics
from nlp.model_store import load_model
from nlp.training import TrainingData


def folds(data: TrainingData, k: int):
    index = np.arange(len(data.texts))
    if data.groups is not None:
        return GroupKFold(k).split(index, groups=data.groups)
    if not data.multi_label:
        return StratifiedKFold(k, shuffle=True, random_state=0).split(index, np.asarray(data.labels, dtype=str))
    return KFold(k, shuffle=True, random_state=0).split(index)


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
    meta = load_model(args.model).meta
    params = {k: v for k, v in meta["params"].items() if k != "multi_label"}
    params["ngram_range"] = tuple(params["ngram_range"])
    estimator_class = get_classifier(meta["model_type"])
    print(f"{args.corpus}: {len(data.texts)} documents, {args.folds} folds, settings of {args.model}: {params}")
    rows = []
    for number, (train, test) in enumerate(folds(data, args.folds), start=1):
        started = time.perf_counter()
        model = estimator_class(multi_label=data.multi_label, **params)
        model.fit([data.texts[i] for i in train], [data.labels[i] for i in train])
        proba = model.predict_proba([data.texts[i] for i in test])
        metrics = classification_metrics([data.labels[i] for i in test], proba, model.decide(proba), model.classes_,
                                         data.multi_label)
        rows.append([metrics["accuracy"], metrics["micro_f1"], metrics["macro_f1"]])
        print(f"fold {number}: accuracy {rows[-1][0]:.4f}  micro-F1 {rows[-1][1]:.4f}  macro-F1 {rows[-1][2]:.4f}"
              f"  ({time.perf_counter() - started:.1f} s)")
    mean, std = np.mean(rows, axis=0), np.std(rows, axis=0)
    print(f"mean:   accuracy {mean[0]:.4f}±{std[0]:.4f}  micro-F1 {mean[1]:.4f}±{std[1]:.4f}  "
          f"macro-F1 {mean[2]:.4f}±{std[2]:.4f}")


if __name__ == "__main__":
    main()
