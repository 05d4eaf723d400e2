"""Metrics for classifiers: accuracy, micro/macro-F1, a per-class report, calibration, and a plot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score, log_loss
from sklearn.preprocessing import MultiLabelBinarizer


def label_matrix(labels: list[list[str]], classes) -> np.ndarray:
    """Binary indicator matrix of label lists over ``classes`` (unknown labels are ignored)."""
    binarizer = MultiLabelBinarizer(classes=list(classes))
    known = set(classes)
    return binarizer.fit_transform([[label for label in row if label in known] for row in labels])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean gap between confidence and accuracy over equal-width confidence bins, weighted by bin size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            gap += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(gap)


def classification_metrics(gold, proba: np.ndarray, picks: list[list[int]], classes, multi_label: bool) -> dict:
    """Metrics of predictions against gold labels.

    Args:
        gold: A label per document, or a list of labels per document (multi-label).
        proba: Predicted probabilities ``(n, len(classes))``.
        picks: Predicted class indices per document.
        classes: Class ids in column order.
        multi_label: Whether ``gold`` holds label lists.

    Returns:
        ``accuracy`` (exact match for multi-label), ``micro_f1``, ``macro_f1``, ``weighted_f1``,
        ``calibration`` figures, ``per_class`` (precision, recall, F1, support) and ``documents``.
    """
    classes = [str(c) for c in classes]
    if multi_label:
        truth = label_matrix(gold, classes)
        predicted = np.zeros_like(truth)
        for row, chosen in enumerate(picks):
            predicted[row, chosen] = 1
        calibration = {
            "brier": float(np.mean((proba - truth) ** 2)),
            "ece_per_label": expected_calibration_error(proba.ravel(), truth.ravel().astype(float)),
        }
    else:
        index = {c: i for i, c in enumerate(classes)}
        truth = np.array([index.get(str(label), -1) for label in gold])
        predicted = np.array([chosen[0] for chosen in picks])
        known = truth >= 0
        calibration = {
            "ece": expected_calibration_error(proba.max(axis=1), (predicted == truth).astype(float)),
            "log_loss": float(log_loss(truth[known], proba[known], labels=range(len(classes)))) if known.any() else None,
        }
    labels = list(range(len(classes)))
    report = classification_report(truth, predicted, labels=labels, target_names=classes,
                                   output_dict=True, zero_division=0)
    per_class = {name: {k: round(float(v), 4) for k, v in report[name].items()} for name in classes}
    return {
        "documents": int(len(truth)),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "micro_f1": round(float(f1_score(truth, predicted, labels=labels, average="micro", zero_division=0)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)), 4),
        "weighted_f1": round(float(f1_score(truth, predicted, labels=labels, average="weighted", zero_division=0)), 4),
        "calibration": {k: (round(v, 4) if v is not None else None) for k, v in calibration.items()},
        "per_class": per_class,
    }


def save_plot(gold, picks: list[list[int]], classes, multi_label: bool, path: str | Path,
              label_names: dict[str, str] | None = None, title: str = "") -> Path:
    """A confusion matrix (single-label) or per-label precision/recall/F1 bars (multi-label), as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, precision_recall_fscore_support

    classes = [str(c) for c in classes]
    names = [label_names.get(c, c) if label_names else c for c in classes]
    size = max(6.0, 0.35 * len(classes) + 3)
    if multi_label:
        truth = label_matrix(gold, classes)
        predicted = np.zeros_like(truth)
        for row, chosen in enumerate(picks):
            predicted[row, chosen] = 1
        precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, zero_division=0)
        fig, ax = plt.subplots(figsize=(8, size))
        y = np.arange(len(classes))
        for offset, values, name in ((-0.27, precision, "precision"), (0.0, recall, "recall"), (0.27, f1, "F1")):
            ax.barh(y + offset, values, height=0.27, label=name)
        ax.set_yticks(y, [f"{n} ({s})" for n, s in zip(names, support)])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.legend(loc="lower right")
        ax.set_xlabel("score (support in brackets)")
    else:
        index = {c: i for i, c in enumerate(classes)}
        truth = [index.get(str(label), -1) for label in gold]
        keep = [i for i, t in enumerate(truth) if t >= 0]
        matrix = confusion_matrix([truth[i] for i in keep], [picks[i][0] for i in keep], labels=range(len(classes)))
        fig, ax = plt.subplots(figsize=(size, size))
        ConfusionMatrixDisplay(matrix, display_labels=classes).plot(ax=ax, colorbar=False, xticks_rotation=90)
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


_WORD = re.compile(r"\w\w+")


def _without(text: str, spans) -> str:
    """``text`` with each ``[start, end)`` span replaced by a space."""
    pieces, position = [], 0
    for start, end in sorted(spans):
        if start >= position:
            pieces.append(text[position:start])
            pieces.append(" ")
            position = end
        elif end > position:
            position = end
    pieces.append(text[position:])
    return "".join(pieces)


def deletion_curves(estimator, texts: list[str], ks=(1, 3, 5, 10), repeats: int = 3, seed: int = 0) -> dict:
    """How much deleting a document's most-explained words lowers its predicted label's probability, against
    deleting as many random words (a faithfulness test for explanations).

    For each document the top label is explained; for each ``k`` every occurrence of its ``k`` highest-weighted
    terms is deleted, and (``repeats`` times) every occurrence of as many distinct words as those terms hold (a
    bigram counts two; fewer when fewer terms are explained), drawn at random from the document's words that are not stop words. Faithful explanations
    lower the probability more than chance.

    Returns:
        ``{"k": [...], "explained": [mean drop per k], "random": [...], "flipped_explained": [share of
        documents whose top label changed], "flipped_random": [...], "documents": n}``.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    texts = list(texts)
    proba = estimator.predict_proba(texts)
    labels = proba.argmax(axis=1)
    before = proba[np.arange(len(texts)), labels]
    features = estimator.transform(texts, explain=True)
    explanations = estimator.explain(texts, features, [[int(c)] for c in labels], top_k=max(ks))
    random = np.random.default_rng(seed)
    words = [sorted({w.lower() for w in _WORD.findall(text)} - ENGLISH_STOP_WORDS) for text in texts]

    def drop(edited: list[str]) -> tuple[float, float]:
        after = estimator.predict_proba(edited)
        return (float(np.mean(before - after[np.arange(len(texts)), labels])),
                float(np.mean(after.argmax(axis=1) != labels)))

    curves = {"k": list(ks), "explained": [], "random": [], "flipped_explained": [], "flipped_random": [],
              "documents": len(texts)}
    for k in ks:
        edited = [_without(text, [span for item in items[:k] for span in item["spans"]])
                  for text, items in zip(texts, explanations)]
        mean, flipped = drop(edited)
        curves["explained"].append(mean)
        curves["flipped_explained"].append(flipped)
        sizes = [sum(len(_WORD.findall(item["term"])) or 1 for item in items[:k]) for items in explanations]
        runs = []
        for _ in range(repeats):
            edited = []
            for text, vocabulary, size in zip(texts, words, sizes):
                chosen = set(random.choice(vocabulary, size=min(size, len(vocabulary)), replace=False))
                edited.append(_without(text, [m.span() for m in _WORD.finditer(text) if m.group().lower() in chosen]))
            runs.append(drop(edited))
        curves["random"].append(float(np.mean([r[0] for r in runs])))
        curves["flipped_random"].append(float(np.mean([r[1] for r in runs])))
    return curves
