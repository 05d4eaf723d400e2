"""Hallmarks of Cancer: a classifier of sentences, its most probable sentence per hallmark, beside the abstract
classifier, by 5-fold cross-validation on the same folds.

The corpus labels every sentence of every abstract, and an abstract's hallmarks are exactly the union of its
sentences' (checked below). Per fold, :class:`~nlp.classifiers.sentences.SentenceTfidfClassifier` is fitted with
the committed ``hoc-tfidf`` settings: its abstract model on the training abstracts (as ``hoc-tfidf`` is), its
sentence model on their sentences with the sentences' own hallmarks. The test abstracts are then scored three ways
from the same fitted models: the abstract model alone (``weight`` 1), the most probable sentence alone (``weight``
0, sentences cut by the project's segmenter, as a served model sees them) and their average (``weight`` 0.5, what
``hoc-sentences`` chose). Each row is scored at the threshold (0.05 to 0.9) best for it over all folds, as
``clinnlp train --cv`` chooses a threshold; the folds are the project's (``nlp.training.folds``).

    .venv/bin/python benchmarks/hallmarks_sentences.py [--folds 5] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import f1_score

from corpora import get_corpus, load_corpus
from nlp.classifiers.sentences import SentenceTfidfClassifier
from nlp.model_store import load_model
from nlp.training import TrainingData, folds

THRESHOLDS = np.round(np.arange(0.05, 0.95, 0.05), 2)


def scores(truth: np.ndarray, proba: np.ndarray, fold_of: np.ndarray) -> tuple[float, dict]:
    """The threshold best for micro-F1 over all folds, and mean ± std over folds of micro- and macro-F1 there."""
    threshold = max(THRESHOLDS, key=lambda t: f1_score(truth, proba >= t, average="micro", zero_division=0))
    per_fold = np.array([[f1_score(truth[fold_of == k], proba[fold_of == k] >= threshold, average=average,
                                   zero_division=0) for average in ("micro", "macro")]
                         for k in np.unique(fold_of)])
    return float(threshold), {"micro": (per_fold[:, 0].mean(), per_fold[:, 0].std()),
                              "macro": (per_fold[:, 1].mean(), per_fold[:, 1].std())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    info = get_corpus("hallmarks")
    data = TrainingData.from_dataset(load_corpus("hallmarks", args.data_dir)["train"], {}, info.label_names,
                                     info.grouped_by)
    if data.sentences is None:
        raise SystemExit("the Hallmarks file has no labelled sentences")
    mismatched = sum(sorted({label for _, labels in document for label in labels}) != sorted(labels)
                     for document, labels in zip(data.sentences, data.labels))
    print(f"hallmarks: {len(data.texts)} abstracts, {sum(map(len, data.sentences))} labelled sentences; abstracts "
          f"whose labels are not their sentences' union: {mismatched}", flush=True)
    classes = sorted({label for labels in data.labels for label in labels})
    truth = np.array([[name in labels for name in classes] for labels in data.labels])
    params = {key: value for key, value in load_model("hoc-tfidf").estimator.get_params().items()
              if key in SentenceTfidfClassifier().get_params()}
    weights = {"abstract (hoc-tfidf's settings)": 1.0, "most probable sentence": 0.0, "average (hoc-sentences)": 0.5}
    rows = {name: np.zeros(truth.shape) for name in weights}
    fold_of = np.zeros(len(data.texts), dtype=int)
    for k, (train_idx, test_idx) in enumerate(folds(data, args.folds)):
        started = time.perf_counter()
        fold_of[test_idx] = k
        model = SentenceTfidfClassifier(**params)
        model.fit([data.texts[i] for i in train_idx], [data.labels[i] for i in train_idx],
                  **data.fit_arguments(model, train_idx))
        features = model.transform([data.texts[i] for i in test_idx])
        order = [list(map(str, model.classes_)).index(name) for name in classes]
        for name, weight in weights.items():
            rows[name][test_idx] = model.set_params(weight=weight).predict_proba_features(features)[:, order]
        print(f"  fold {k + 1}: {time.perf_counter() - started:.0f} s", flush=True)

    print("\n| model (Hallmarks, 5-fold CV) | threshold | micro-F1 | macro-F1 |\n|---|---|---|---|")
    for name, proba in rows.items():
        threshold, result = scores(truth, proba, fold_of)
        print(f"| {name} | {threshold:.2f} | {result['micro'][0]:.4f} ± {result['micro'][1]:.4f} | "
              f"{result['macro'][0]:.4f} ± {result['macro'][1]:.4f} |")


if __name__ == "__main__":
    main()
