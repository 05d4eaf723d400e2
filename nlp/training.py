"""Train a classifier: choose its setting on a dev split or by k-fold cross-validation, score it on the dev split,
refit on all the data, save with a model card."""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit

import nlp
from nlp.classifiers import get_classifier_type
from nlp.evaluation import classification_metrics
from nlp.folds import kfold_indices
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
    sentences: list | None = None  # per text, its labelled sentences [(sentence, labels), ...], where a corpus has them

    @classmethod
    def from_dataset(cls, dataset, source: dict, label_names: dict[str, str] | None = None,
                     group_column: str | None = None) -> "TrainingData":
        multi_label = "labels" in dataset.column_names
        labels = dataset["labels"] if multi_label else dataset["label"]
        groups = dataset[group_column] if group_column and group_column in dataset.column_names else None
        sentences = None
        if "sentences" in dataset.column_names:
            sentences = [[(s["text"], list(s["labels"])) for s in document] for document in dataset["sentences"]]
        return cls(list(dataset["id"]), list(dataset["text"]), list(labels), multi_label, source,
                   dict(label_names or {}), groups, sentences)

    def fit_arguments(self, estimator, indices=None) -> dict:
        """What ``estimator.fit`` takes besides texts and labels: the labelled sentences of the texts at
        ``indices`` (all when None), for a model whose ``fit`` takes ``sentences=`` and a corpus that has them."""
        if self.sentences is None or "sentences" not in inspect.signature(estimator.fit).parameters:
            return {}
        return {"sentences": self.sentences if indices is None else _subset(self.sentences, indices)}

    def sha256(self) -> str:
        """A hash of ids, texts and labels, in order: the same data gives the same hash."""
        return _lines_sha256([doc_id, text, labels] for doc_id, text, labels in zip(self.ids, self.texts, self.labels))

    def sentences_sha256(self) -> str | None:
        """A hash of the labelled sentences, in order (None where the data has none): the sentence labels a model
        learned from are training data too."""
        return None if self.sentences is None else _lines_sha256(self.sentences)


def _lines_sha256(rows) -> str:
    """The sha256 of ``rows`` written as JSON lines."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, ensure_ascii=False).encode())
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
    """k-fold (train, test) index pairs of ``data`` (:func:`nlp.folds.kfold_indices`)."""
    return kfold_indices(data.labels, k, multi_label=data.multi_label, groups=data.groups, seed=seed)


@dataclass
class CrossValidation:
    """Out-of-fold predictions of k refits and the metrics of each fold."""

    proba: np.ndarray
    picks: list[list[int]]
    classes: np.ndarray
    per_fold: list[dict]

    def summary(self) -> dict:
        """Mean and standard deviation over folds of accuracy, micro- and macro-F1 and ECE."""
        keys = ("accuracy", "micro_f1", "macro_f1", "ece")
        values = np.array([[_ece(fold) if key == "ece" else fold[key] for key in keys] for fold in self.per_fold])
        return {key: {"mean": round(float(values[:, i].mean()), 4), "std": round(float(values[:, i].std()), 4)}
                for i, key in enumerate(keys)}


def cross_validate(data: TrainingData, estimator, k: int = 5, seed: int = 0, progress=None) -> CrossValidation:
    """Refit a clone of ``estimator`` (same parameters, unfitted) on k-1 folds and predict the k-th, k times.

    Args:
        progress: Called as ``progress(fold, metrics)`` after each fold.
    """
    proba, picks, per_fold, classes = None, [None] * len(data.texts), [], None
    for number, (train_idx, test_idx) in enumerate(folds(data, k, seed), start=1):
        model = clone(estimator)
        model.fit(_subset(data.texts, train_idx), _subset(data.labels, train_idx), **data.fit_arguments(model, train_idx))
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


def _ece(metrics: dict) -> float:
    """Expected calibration error: of the top label's probability, or over every label's (multi-label)."""
    calibration = metrics["calibration"]
    return calibration["ece"] if "ece" in calibration else calibration["ece_per_label"]


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


def _settings(entry, fixed: dict, multi_label: bool) -> tuple[list[dict], list]:
    """Every parameter setting of the type's grid (the caller's ``fixed`` ones left out of it), and the decision
    thresholds to try on each fitted setting's probabilities."""
    grid = {key: values for key, values in entry.param_grid(multi_label).items() if key not in fixed}
    thresholds = _thresholds(fixed, grid, multi_label)
    grid.pop("threshold", None)  # tried after each fit, on the same probabilities
    return [{**fixed, **dict(zip(grid.keys(), values))} for values in itertools.product(*grid.values())], thresholds


def _fitted(entry, data: TrainingData, params: dict, n_jobs, train_idx):
    model = entry.cls(multi_label=data.multi_label, n_jobs=n_jobs, **params)
    return model.fit(_subset(data.texts, train_idx), _subset(data.labels, train_idx),
                     **data.fit_arguments(model, train_idx))


def cross_validate_settings(data: TrainingData, model_type: str, k: int = 5, seed: int = 0,
                            n_jobs: int | None = None, fixed: dict | None = None) -> list[dict]:
    """Score each setting of the type's grid (and each threshold, for multi-label models) by k-fold
    cross-validation on all of ``data``: one row per setting with the mean and standard deviation over folds of
    accuracy, micro- and macro-F1 and ECE, and ``score``, the mean of what training maximizes."""
    entry = get_classifier_type(model_type)
    settings, thresholds = _settings(entry, dict(fixed or {}), data.multi_label)
    splits = folds(data, k, seed)
    rows = []
    for number, params in enumerate(settings, start=1):
        started = time.perf_counter()
        scores: dict = {threshold: [] for threshold in thresholds}
        for fold, (train_idx, test_idx) in enumerate(splits, start=1):
            model = _fitted(entry, data, params, n_jobs, train_idx)
            proba = model.predict_proba(_subset(data.texts, test_idx))
            for threshold in thresholds:
                if threshold is not None:
                    model.set_params(threshold=threshold)
                scores[threshold].append(classification_metrics(_subset(data.labels, test_idx), proba,
                                                                model.decide(proba), model.classes_, data.multi_label))
            log.info("cross-validation: setting %d/%d %s, fold %d/%d done", number, len(settings), params, fold, k)
        for threshold, per_fold in scores.items():
            row = {"params": {**params, **({"threshold": threshold} if threshold is not None else {})},
                   "folds": k, "seconds": round(time.perf_counter() - started, 1)}
            for key in ("accuracy", "micro_f1", "macro_f1", "ece"):
                values = np.array([_ece(m) if key == "ece" else m[key] for m in per_fold])
                row[key] = {"mean": round(float(values.mean()), 4), "std": round(float(values.std()), 4)}
            row["score"] = round(float(np.mean([_dev_score(m, data.multi_label) for m in per_fold])), 4)
            log.info("cv %s: accuracy %.4f micro-F1 %.4f macro-F1 %.4f", row["params"], row["accuracy"]["mean"],
                     row["micro_f1"]["mean"], row["macro_f1"]["mean"])
            rows.append(row)
    return rows


def tune(data: TrainingData, model_type: str, dev_fraction: float = 0.15, seed: int = 0,
         n_jobs: int | None = None, fixed: dict | None = None, cv: int = 0) -> tuple[dict, dict, list[dict], object]:
    """Try each parameter setting on a dev split carved from ``data``, or choose it by ``cv``-fold
    cross-validation on all of ``data`` and then score the chosen setting on the dev split.

    Args:
        fixed: Parameters set by the caller; they are not tuned.
        cv: Folds of cross-validation that choose the setting (0: the dev split chooses). The dev metrics then
            carry ``cross_validation``, the chosen setting's mean and spread over the folds.

    Returns:
        The best parameters, the dev metrics of the best setting, one row per setting tried, and the
        model of the best setting (fitted on the train part).
    """
    if cv < 0 or cv == 1:
        raise ValueError(f"cross-validation needs at least 2 folds (or 0 for the dev split), not {cv}")
    fixed = dict(fixed or {})
    entry = get_classifier_type(model_type)
    train_idx, dev_idx = carve_dev(data, dev_fraction, seed)
    dev_texts, dev_labels = _subset(data.texts, dev_idx), _subset(data.labels, dev_idx)
    cross_validation = None
    if cv:
        cv_rows = cross_validate_settings(data, model_type, cv, seed, n_jobs, fixed)
        chosen = max(cv_rows, key=lambda row: row["score"])  # the first of equals: grids list defaults first
        cross_validation = {key: chosen[key] for key in ("folds", "accuracy", "micro_f1", "macro_f1", "ece")}
        fixed = dict(chosen["params"])
    settings, thresholds = _settings(entry, fixed, data.multi_label)
    rows, best = [], None
    for params in settings:
        started = time.perf_counter()
        model = _fitted(entry, data, params, n_jobs, train_idx)
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
    if cross_validation is not None:
        best_metrics["cross_validation"] = cross_validation
        rows = cv_rows
    return best_params, best_metrics, rows, best_model


def train(data: TrainingData, model_type: str, out: str | Path, name: str | None = None,
          version: str | None = None, dev_fraction: float = 0.15, seed: int = 0,
          n_jobs: int | None = None, command: str | None = None, fixed: dict | None = None, cv: int = 0,
          served_by_default: bool = True) -> Path:
    """Tune on a dev split (or choose by ``cv``-fold cross-validation, see :func:`tune`), refit the best setting on
    all of ``data`` (when the type's registry entry says so), and save it to ``out``. A model not
    ``served_by_default`` is loaded by the service only when named (``CLINNLP_CLASSIFIERS``).

    Models that read texts through a frozen encoder remember each text's vector while they train here
    (:mod:`nlp.classifiers.vector_cache`): the folds and settings read each text once."""
    from nlp.classifiers.vector_cache import remembering

    out = Path(out)
    started = time.perf_counter()
    entry = get_classifier_type(model_type)
    with remembering():
        params, dev_metrics, tried, model = tune(data, model_type, dev_fraction, seed, n_jobs, fixed, cv)
        refit = entry.refit
        if refit:
            model = entry.cls(multi_label=data.multi_label, n_jobs=n_jobs, **params)
            model.fit(data.texts, data.labels, **data.fit_arguments(model))
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
        "served_by_default": served_by_default,
    }
    encoder = getattr(model, "transformer_", model)  # an ensemble's transformer member
    if hasattr(encoder, "base_sha256_"):
        meta["base"], meta["base_sha256"] = encoder.base, encoder.base_sha256_
    if data.fit_arguments(model).get("sentences") is not None:
        meta["training"]["sentences_sha256"] = data.sentences_sha256()
    if data.multi_label:
        meta["predicts_no_label"] = bool(getattr(model, "allows_no_label_", False))
    save_model(model, out, meta, model_card(meta), entry.libraries)
    return out


def _cross_validation_lines(cv: dict | None) -> list[str]:
    if not cv:
        return []
    spread = " | ".join(f"{cv[key]['mean']} ± {cv[key]['std']}" for key in ("accuracy", "micro_f1", "macro_f1", "ece"))
    return ["## Cross-validation",
            f"{cv['folds']}-fold cross-validation on all the training documents"
            ", mean ± standard deviation over folds "
            "of the chosen setting (the figure to expect on unseen data of the same kind; ECE of the top label's "
            "probability, or of every label's for a multi-label model):",
            "",
            "| accuracy | micro-F1 | macro-F1 | ECE |",
            "|---|---|---|---|",
            f"| {spread} |",
            ""]


def model_card(meta: dict) -> str:
    """A short Markdown model card from the metadata."""
    dev = meta["dev_metrics"]
    cv = dev.get("cross_validation")
    training = meta["training"]
    source = training.get("corpus") or training.get("file")
    worst = sorted(dev["per_class"].items(), key=lambda item: item[1]["f1-score"])[:5]
    names = {label["id"]: label["name"] for label in meta["labels"]}
    entry = get_classifier_type(meta["model_type"])
    lines = [
        f"# {meta['name']} (version {meta['version']})",
        "",
        f"{'An' if entry.name[0] in 'aeiou' else 'A'} {entry.name} classifier "
        f"({meta['task'].replace('_', '-')}, {len(meta['labels'])} labels): " + entry.description,
        "",
        "## Training",
        f"- Data: `{source}` ({training['documents']} documents), sha256 `{training['data_sha256'][:16]}...`",
        f"- Command: `{training.get('command') or 'clinnlp train'}`",
        f"- Time: {training['seconds']} s (training, tuning and dev scoring) on {training.get('machine', 'the machine that trained it')}",
        (f"- Parameters chosen by {cv['folds']}-fold cross-validation on all {training['documents']} documents: "
         if cv else "- Parameters chosen on the dev split: ") + f"`{json.dumps(meta['params'])}`",
        "",
        *_cross_validation_lines(cv),
        "## Dev split",
        f"A {int(dev['dev_fraction'] * 100)}% dev split ({dev['documents']} documents, seed {dev['seed']}) was carved from the "
        f"training data; the chosen setting, fitted on the other {dev['train_documents']} documents, scored:",
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
        *([] if meta.get("served_by_default", True) else [
            "", "The service loads it only when `CLINNLP_CLASSIFIERS` names it (with the others it should serve)."]),
    ]
    return "\n".join(lines) + "\n"
