"""5-fold cross-validation of the chest X-ray findings labeler's methods on the Open-i NegBio labels.

Data: ``openi_findings`` (2,435 Indiana reports with text: findings + impression, joined on uid with NegBio's
gold labels). Folds: ``KFold(5, shuffle=True, random_state=0)``. Methods (``nlp.classifiers.findings``):
``rules`` (concepts + assertions, nothing learned), ``tfidf`` (today's TF-IDF + SVM on the words), ``hybrid``
(TF-IDF on the words plus one token per mention and assertion). Learned methods use the 0.5 threshold on
calibrated probabilities. Prints micro-F1 and macro-F1 over the 14 labels with positives (Hernia has none),
and F1 per finding with its positive count, pooled over the five test folds.

    .venv/bin/python benchmarks/findings_cv.py
    .venv/bin/python benchmarks/findings_cv.py --methods hybrid --param C=0.3
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from sklearn.model_selection import KFold


class CachedAnalyzer:
    """Analyses computed once per text for every fold and method (the analysis is not learned)."""

    def __init__(self, texts: list[str]):
        from nlp.clinical.analyze import ClinicalAnalyzer

        self.cache = dict(zip(texts, ClinicalAnalyzer().analyze(texts)))

    def analyze(self, texts):
        return [self.cache[t] for t in texts]


def f1_table(Y: np.ndarray, P: np.ndarray, labels) -> dict:
    per = {}
    tp_all = fp_all = fn_all = 0
    for j, label in enumerate(labels):
        tp = int(((Y[:, j] == 1) & (P[:, j] == 1)).sum())
        fp = int(((Y[:, j] == 0) & (P[:, j] == 1)).sum())
        fn = int(((Y[:, j] == 1) & (P[:, j] == 0)).sum())
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        per[label] = {"f1": f1, "positives": tp + fn, "predicted": tp + fp}
    scored = [v["f1"] for v in per.values() if v["positives"] > 0]
    return {"micro_f1": 2 * tp_all / (2 * tp_all + fp_all + fn_all), "macro_f1": float(np.mean(scored)),
            "per_label": per}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="rules,tfidf,hybrid")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    from corpora import load_corpus
    from nlp.classifiers.findings import LABELS, FindingsClassifier

    data = load_corpus("openi_findings", args.data_dir)["train"]
    texts, labels = list(data["text"]), list(data["labels"])
    Y = np.array([[label in row for label in LABELS] for row in labels], dtype=int)
    params = {}
    for pair in args.param:
        name, _, value = pair.partition("=")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    started = time.perf_counter()
    analyzer = CachedAnalyzer(texts)
    print(f"{len(texts)} reports analyzed in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    folds = list(KFold(5, shuffle=True, random_state=0).split(texts))
    results = {}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        P = np.zeros_like(Y)
        started = time.perf_counter()
        for train, test in folds:
            model = FindingsClassifier(method=method, **params)
            model._analyzer_cache = analyzer
            model.fit([texts[i] for i in train], [labels[i] for i in train])
            proba = model.predict_proba([texts[i] for i in test])
            for row, picked in zip(test, model.decide(proba)):
                P[row, picked] = 1
        results[method] = f1_table(Y, P, LABELS)
        print(f"{method}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    methods = list(results)
    print("| finding | positives | " + " | ".join(f"{m} F1" for m in methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for label in LABELS:
        cells = [results[m]["per_label"][label]["f1"] for m in methods]
        print(f"| {label} | {results[methods[0]]['per_label'][label]['positives']} | "
              + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells) + " |")
    print(f"| **micro-F1** | {int(Y.sum())} | " + " | ".join(f"**{results[m]['micro_f1']:.4f}**" for m in methods) + " |")
    print("| **macro-F1** (14 labels with positives) | | "
          + " | ".join(f"**{results[m]['macro_f1']:.4f}**" for m in methods) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
