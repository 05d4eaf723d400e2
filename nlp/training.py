"""Train a classifier: carve a dev split, tune on it, refit on all the data, save with a model card."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import (GroupKFold, GroupShuffleSplit, KFold, ShuffleSplit, StratifiedKFold,
                                     StratifiedShuffleSplit)

import nlp
from nlp.classifiers import get_classifier_type
from nlp.evaluation import classification_metrics
from nlp.model_store import save_model

log = logging.getLogger(__name__)

THRESHOLDS = [round(t, 2) for t in np.arange(0.2, 0.65, 0.05)]


@dataclass
class TrainingData:
    """Texts and labels to train on, and where they came from."""

    ids: list[str]
    texts: list[str]
    labels: list  # a label per text, or a list of labels per text
    multi_label: bool
    source: dict  # {"corpus": ..., "split": ...} or {"file": ...}
    label_names: dict[str, str] = field(default_factory=dict)
    groups: list[str] | None = None

    @classmethod
    def from_dataset(cls, dataset, source: dict, label_names: dict[str, str] | None = None,
                     group_column: str | None = None) -> "TrainingData":
        multi_label = "labels" in dataset.column_names
        labels = dataset["labels"] if multi_label else dataset["label"]
        groups = dataset[group_column] if group_column and group_column in dataset.column_names else None
        return cls(list(dataset["id"]), list(dataset["text"]), list(labels), multi_label, source,
                   dict(label_names or {}), groups)

    def sha256(self) -> str:
        """A hash of ids, texts and labels, in order: the same data gives the same hash."""
        digest = hashlib.sha256()
        for doc_id, text, labels in zip(self.ids, self.texts, self.labels):
            digest.update(json.dumps([doc_id, text, labels], ensure_ascii=False).encode())
            digest.update(b"\n")
        return digest.hexdigest()


def machine() -> str:
    """The CPU and core count, for the model card's training time."""
    import platform

    from nlp.parallel import available_cpus

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {available_cpus()} cores"


def carve_dev(data: TrainingData, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train part and a dev part: grouped when the data has groups, stratified for
    single-label data when every class has at least two examples, else random."""
    n = len(data.texts)
    index = np.arange(n)
    if data.groups is not None:
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        return next(splitter.split(index, groups=data.groups))
    if not data.multi_label:
        _, counts = np.unique(np.asarray(data.labels, dtype=str), return_counts=True)
        if counts.min() >= 2 and len(counts) <= fraction * n:
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
            return next(splitter.split(index, np.asarray(data.labels, dtype=str)))
    return next(ShuffleSplit(n_splits=1, test_size=fraction, random_state=seed).split(index))


def folds(data: TrainingData, k: int, seed: int = 0):
    """k-fold (train, test) index pairs: grouped when the data has groups, stratified for single-label data."""
    index = np.arange(len(data.texts))
    if data.groups is not None:
        return list(GroupKFold(k).split(index, groups=data.groups))
    if not data.multi_label:
        _, counts = np.unique(np.asarray(data.labels, dtype=str), return_counts=True)
        if counts.min() >= k:
            return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(
                index, np.asarray(data.labels, dtype=str)))
    return list(KFold(k, shuffle=True, random_state=seed).split(index))


@dataclass
class CrossValidation:
    """Out-of-fold predictions of k refits and the metrics of each fold."""

    proba: np.ndarray
    picks: list[list[int]]
    classes: np.ndarray
    per_fold: list[dict]

    def summary(self) -> dict:
        """Mean and standard deviation over folds of accuracy, micro- and macro-F1."""
        keys = ("accuracy", "micro_f1", "macro_f1")
        values = np.array([[fold[key] for key in keys] for fold in self.per_fold])
        return {key: {"mean": round(float(values[:, i].mean()), 4), "std": round(float(values[:, i].std()), 4)}
                for i, key in enumerate(keys)}


def cross_validate(data: TrainingData, estimator, k: int = 5, seed: int = 0, progress=None) -> CrossValidation:
    """Refit a clone of ``estimator`` (same parameters, unfitted) on k-1 folds and predict the k-th, k times.

    Args:
        progress: Called as ``progress(fold, metrics)`` after each fold.
    """
    proba, picks, per_fold, classes = None, [None] * len(data.texts), [], None
    for number, (train_idx, test_idx) in enumerate(folds(data, k, seed), start=1):
        model = clone(estimator).fit(_subset(data.texts, train_idx), _subset(data.labels, train_idx))
        if classes is None:
            classes = model.classes_
        if list(map(str, model.classes_)) != list(map(str, classes)):
            raise ValueError("a fold lacks a label the others have: use fewer folds")
        fold_proba = model.predict_proba(_subset(data.texts, test_idx))
        fold_picks = model.decide(fold_proba)
        if proba is None:
            proba = np.zeros((len(data.texts), fold_proba.shape[1]), dtype=np.float64)
        proba[test_idx] = fold_proba
        for row, chosen in zip(test_idx, fold_picks):
            picks[row] = chosen
        metrics = classification_metrics(_subset(data.labels, test_idx), fold_proba, fold_picks, classes,
                                         data.multi_label)
        per_fold.append(metrics)
        if progress is not None:
            progress(number, metrics)
    return CrossValidation(proba, picks, classes, per_fold)


def _subset(values: list, indices: np.ndarray) -> list:
    return [values[i] for i in indices]


def _dev_score(metrics: dict, multi_label: bool) -> float:
    # Multi-label models are judged on both micro-F1 (frequent labels) and macro-F1 (rare ones).
    return (metrics["micro_f1"] + metrics["macro_f1"]) / 2 if multi_label else metrics["accuracy"]


def _thresholds(fixed: dict, grid: dict, multi_label: bool) -> list:
    """The decision thresholds to try on dev for a multi-label model: the one the caller fixed, else the ones its
    type's grid names (a threshold chosen by cross-validation), else :data:`THRESHOLDS`."""
    if not multi_label:
        return [None]
    if "threshold" in fixed:
        return [float(fixed["threshold"])]
    return list(grid.get("threshold", THRESHOLDS))


def tune(data: TrainingData, model_type: str, dev_fraction: float = 0.15, seed: int = 0,
         n_jobs: int | None = None, fixed: dict | None = None) -> tuple[dict, dict, list[dict], object]:
    """Try each parameter setting on a dev split carved from ``data``.

    Args:
        fixed: Parameters set by the caller; they are not tuned.

    Returns:
        The best parameters, the dev metrics of the best setting, one row per setting tried, and the
        model of the best setting (fitted on the train part).
    """
    fixed = dict(fixed or {})
    entry = get_classifier_type(model_type)
    train_idx, dev_idx = carve_dev(data, dev_fraction, seed)
    train_texts, dev_texts = _subset(data.texts, train_idx), _subset(data.texts, dev_idx)
    train_labels, dev_labels = _subset(data.labels, train_idx), _subset(data.labels, dev_idx)
    grid = {key: values for key, values in entry.param_grid(data.multi_label).items() if key not in fixed}
    thresholds = _thresholds(fixed, grid, data.multi_label)
    grid.pop("threshold", None)  # tried after each fit, on the same probabilities
    rows, best = [], None
    for values in itertools.product(*grid.values()):
        params = {**fixed, **dict(zip(grid.keys(), values))}
        started = time.perf_counter()
        model = entry.cls(multi_label=data.multi_label, n_jobs=n_jobs, **params)
        if entry.fit_takes_dev:
            model.fit(train_texts, train_labels, dev_texts, dev_labels, data)
        else:
            model.fit(train_texts, train_labels)
        proba = model.predict_proba(dev_texts)
        for threshold in thresholds:
            if threshold is not None:
                model.set_params(threshold=threshold)
            metrics = classification_metrics(dev_labels, proba, model.decide(proba), model.classes_, data.multi_label)
            tried = {**params, **({"threshold": threshold} if threshold is not None else {})}
            row = {"params": tried, "accuracy": metrics["accuracy"], "micro_f1": metrics["micro_f1"],
                   "macro_f1": metrics["macro_f1"], **metrics["calibration"],
                   "seconds": round(time.perf_counter() - started, 1)}
            rows.append(row)
            log.info("dev %s: accuracy %.4f micro-F1 %.4f macro-F1 %.4f", tried, row["accuracy"],
                     row["micro_f1"], row["macro_f1"])
            score = _dev_score(metrics, data.multi_label)
            if best is None or score > best[0]:
                best = (score, tried, metrics, model)
    _, best_params, best_metrics, best_model = best
    if data.multi_label:
        best_model.set_params(threshold=best_params["threshold"])
    best_metrics = {**best_metrics, "train_documents": len(train_idx), "dev_fraction": dev_fraction, "seed": seed}
    return best_params, best_metrics, rows, best_model


def train(data: TrainingData, model_type: str, out: str | Path, name: str | None = None,
          version: str | None = None, dev_fraction: float = 0.15, seed: int = 0,
          n_jobs: int | None = None, command: str | None = None, fixed: dict | None = None) -> Path:
    """Tune on a dev split, refit the best setting on all of ``data`` (when the type's registry entry says
    so), and save it to ``out``."""
    out = Path(out)
    started = time.perf_counter()
    entry = get_classifier_type(model_type)
    params, dev_metrics, tried, model = tune(data, model_type, dev_fraction, seed, n_jobs, fixed)
    refit = entry.refit
    if refit:
        model = entry.cls(multi_label=data.multi_label, n_jobs=n_jobs, **params)
        model.fit(data.texts, data.labels)
    seconds = round(time.perf_counter() - started, 1)
    labels = [{"id": str(c), "name": data.label_names.get(str(c), str(c))} for c in model.classes_]
    meta = {
        "name": name or out.name,
        "version": version or nlp.__version__,
        "task": "multi_label" if data.multi_label else "single_label",
        "model_type": entry.name,
        "labels": labels,
        "params": {k: v for k, v in model.get_params().items() if k != "n_jobs"},
        "training": {**data.source, "documents": len(data.texts), "data_sha256": data.sha256(),
                     "fitted_on": "all" if refit else "train part", "dev_fraction": dev_fraction, "seed": seed,
                     "seconds": seconds, "command": command, "machine": machine()},
        "dev_metrics": dev_metrics,
        "tuning": tried,
    }
    if hasattr(model, "base_sha256_"):
        meta["base_sha256"] = model.base_sha256_
    if data.multi_label:
        meta["predicts_no_label"] = bool(getattr(model, "allows_no_label_", False))
    save_model(model, out, meta, model_card(meta), entry.libraries)
    return out


def model_card(meta: dict) -> str:
    """A short Markdown model card from the metadata."""
    dev = meta["dev_metrics"]
    training = meta["training"]
    source = training.get("corpus") or training.get("file")
    worst = sorted(dev["per_class"].items(), key=lambda item: item[1]["f1-score"])[:5]
    names = {label["id"]: label["name"] for label in meta["labels"]}
    entry = get_classifier_type(meta["model_type"])
    lines = [
        f"# {meta['name']} (version {meta['version']})",
        "",
        f"A {entry.name} classifier ({meta['task'].replace('_', '-')}, {len(meta['labels'])} labels): "
        + entry.description,
        "",
        "## Training",
        f"- Data: `{source}` ({training['documents']} documents), sha256 `{training['data_sha256'][:16]}...`",
        f"- Command: `{training.get('command') or 'clinnlp train'}`",
        f"- Time: {training['seconds']} s (training, tuning and dev scoring) on {training.get('machine', 'the machine that trained it')}",
        f"- Parameters chosen on the dev split: `{json.dumps(meta['params'])}`",
        "",
        "## Dev split",
        f"A {int(dev['dev_fraction'] * 100)}% dev split ({dev['documents']} documents, seed {dev['seed']}) was carved from the "
        f"training data; the model tuned on the other {dev['train_documents']} documents scored:",
        "",
        "| accuracy | micro-F1 | macro-F1 | weighted-F1 | calibration |",
        "|---|---|---|---|---|",
        f"| {dev['accuracy']} | {dev['micro_f1']} | {dev['macro_f1']} | {dev['weighted_f1']} | "
        + ", ".join(f"{k} {v}" for k, v in dev["calibration"].items()) + " |",
        "",
        "Accuracy is exact-match for multi-label models. "
        + ({True: "Some training documents have no label, so this model predicts none when no label reaches the "
                  "threshold. ",
            False: "Every training document has a label, so this model predicts the most probable label when none "
                   "reaches the threshold. "}.get(meta.get("predicts_no_label"), ""))
        + ("The final model was then refitted on all the data." if training.get("fitted_on", "all") == "all"
           else "The saved model is the one scored here (fitted on the train part; not refitted)."),
        "",
        "Weakest labels on dev (F1, support): "
        + "; ".join(f"{names.get(k, k)} {v['f1-score']} ({int(v['support'])})" for k, v in worst),
        "",
        *(entry.card_section(meta) if entry.card_section else []),
        "## Use",
        f"`clinnlp classify --model {meta['name']} INPUT -o OUTPUT.jsonl`",
    ]
    return "\n".join(lines) + "\n"
