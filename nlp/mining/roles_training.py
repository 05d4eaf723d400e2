"""Training the sentence-role model on NICTA-PIBOSO (``clinnlp train-roles``): reads the corpus, chooses the first
stage's C by grouped cross-validation on the training abstracts, cross-validates the model with its sequence stage
the same way, scores the dev split, saves the model. Apart from
:mod:`nlp.mining.roles` so that mining never imports the corpus loaders."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold

from nlp.mining.roles import SentenceRoleClassifier

log = logging.getLogger(__name__)


def abstracts_from_corpus(dataset) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """Sentences and roles grouped by abstract (in corpus order), with each abstract's PMID."""
    abstracts, roles, pmids = [], [], []
    for text, label, group in zip(dataset["text"], dataset["label"], dataset["group"]):
        if not pmids or pmids[-1] != group:
            abstracts.append([])
            roles.append([])
            pmids.append(group)
        abstracts[-1].append(text)
        roles[-1].append(label)
    return abstracts, roles, pmids


def scores(truth: list[list[str]], predicted: list[list[str]]) -> dict:
    flat_truth = [r for a in truth for r in a]
    flat_predicted = [r for a in predicted for r in a]
    return {"micro_f1": round(f1_score(flat_truth, flat_predicted, average="micro"), 4),
            "macro_f1": round(f1_score(flat_truth, flat_predicted, average="macro"), 4),
            "weighted_f1": round(f1_score(flat_truth, flat_predicted, average="weighted"), 4),
            "per_role_f1": {role: round(value, 4) for role, value in zip(
                sorted(set(flat_truth)), f1_score(flat_truth, flat_predicted, average=None,
                                                  labels=sorted(set(flat_truth))))},
            "sentences": len(flat_truth)}


def grouped_cv(abstracts, roles, pmids, **params) -> float:
    """Mean micro-F1 of grouped 3-fold cross-validation (an abstract's sentences stay together)."""
    folds = []
    for train_idx, test_idx in GroupKFold(3).split(abstracts, groups=pmids):
        model = SentenceRoleClassifier(**params).fit([abstracts[i] for i in train_idx], [roles[i] for i in train_idx])
        folds.append(scores([roles[i] for i in test_idx], model.predict([abstracts[i] for i in test_idx]))["micro_f1"])
    return round(float(np.mean(folds)), 4)


def train_roles(out: str | Path, data_dir: str | None = None, grid=(0.1, 0.3, 1.0), command: str | None = None) -> dict:
    """Choose the first stage's C by grouped 3-fold CV on PIBOSO train (without the sequence stage, which reads
    the first stage's output), cross-validate the whole model at that C, fit it on train, score dev, save."""
    import nlp
    from corpora import load_corpus
    from nlp.model_store import save_model
    from nlp.training import machine

    started = time.perf_counter()
    splits = load_corpus("nicta_piboso", data_dir)
    abstracts, roles, pmids = abstracts_from_corpus(splits["train"])
    dev_abstracts, dev_roles, _ = abstracts_from_corpus(splits["validation"])
    cv = {}
    for C in grid:
        cv[C] = grouped_cv(abstracts, roles, pmids, C=C, sequence_width=0)
        log.info("C=%s: grouped 3-fold micro-F1 %.4f (first stage alone)", C, cv[C])
    best = max(cv, key=cv.get)
    sequence_cv = grouped_cv(abstracts, roles, pmids, C=best)
    log.info("C=%s with the sequence stage: grouped 3-fold micro-F1 %.4f", best, sequence_cv)
    model = SentenceRoleClassifier(C=best).fit(abstracts, roles)
    dev = scores(dev_roles, model.predict(dev_abstracts))
    seconds = round(time.perf_counter() - started, 1)
    meta = {"name": Path(out).name, "version": nlp.__version__, "task": "sentence_roles",
            "model_type": "sentence-roles", "labels": [{"id": str(c), "name": str(c)} for c in model.classes_],
            "params": {"C": best, "context_weight": model.context_weight, "sequence_width": model.sequence_width,
                       "sequence_C": model.sequence_C, "sequence_folds": model.sequence_folds},
            "training": {"corpus": "nicta_piboso", "split": "train", "abstracts": len(abstracts),
                         "sentences": sum(map(len, abstracts)), "seconds": seconds, "command": command,
                         "machine": machine()},
            "cv_micro_f1_by_C": {str(k): v for k, v in cv.items()}, "cv_micro_f1": sequence_cv, "dev_metrics": dev}
    card = "\n".join([
        f"# {meta['name']} (version {meta['version']})", "",
        "Sentence roles in abstracts (NICTA-PIBOSO: " + ", ".join(map(str, model.classes_)) + "): TF-IDF of the "
        "sentence and its neighbours plus its relative position, a linear SVM with Platt-calibrated probabilities; "
        f"then a sequence stage (a logistic regression over those probabilities for the sentence and "
        f"{model.sequence_width} neighbours on each side, learned from out-of-fold probabilities).",
        "", "## Training",
        f"- Data: NICTA-PIBOSO train ({len(abstracts)} abstracts, {meta['training']['sentences']} sentences)",
        f"- Command: `{command or 'clinnlp train-roles'}`",
        f"- Time: {seconds} s on {meta['training']['machine']}",
        f"- C = {best}, chosen by grouped 3-fold CV micro-F1 on train (first stage alone): {meta['cv_micro_f1_by_C']}",
        f"- The whole model (with the sequence stage), same folds: micro-F1 {sequence_cv}",
        "", "## Dev split (NICTA-PIBOSO dev, never used for fitting or choosing)",
        f"{dev['sentences']} sentences: micro-F1 {dev['micro_f1']}, weighted-F1 {dev['weighted_f1']}, "
        f"macro-F1 {dev['macro_f1']}. Per role: "
        + ", ".join(f"{k} {v}" for k, v in dev["per_role_f1"].items()) + ".",
        "", "Published for comparison: HSLN-RNN about 0.847 F1 on this corpus (a neural sequence model).", ""])
    save_model(model, out, meta, card)
    return meta
