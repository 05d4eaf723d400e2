"""The role of each sentence of an abstract: background, population, intervention, outcome, study design,
other (the NICTA-PIBOSO scheme), so a reader can pull out populations and outcomes.

A sentence's role depends on its neighbours and its place in the abstract (backgrounds come first,
outcomes last), so each sentence is represented by the TF-IDF of its own words, the TF-IDF of the
previous and next sentences (down-weighted), and its relative position; a linear SVM with calibrated
probabilities does the rest. Trained on the shared NICTA-PIBOSO corpus by ``clinnlp train-roles``
(regularization chosen by grouped cross-validation on the training abstracts; the dev split is only
scored).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold
from sklearn.svm import LinearSVC

log = logging.getLogger(__name__)

ROLES = ("background", "population", "intervention", "outcome", "study design", "other")
DEFAULT_ROLES_MODEL = "piboso-roles"
POSITION_BINS = 10


class SentenceRoleClassifier(BaseEstimator):
    """Sentence roles from the sentence, its neighbours and its position.

    Args:
        C: SVM regularization.
        context_weight: Scale of the neighbours' TF-IDF features relative to the sentence's own.
    """

    def __init__(self, C: float = 0.3, context_weight: float = 0.5):
        self.C = C
        self.context_weight = context_weight

    def _features(self, abstracts: list[list[str]], fit: bool = False):
        sentences = [s for abstract in abstracts for s in abstract]
        if not sentences and not fit:
            return sp.csr_matrix((0, len(self.vectorizer_.vocabulary_) * 3 + POSITION_BINS + 3), dtype=np.float32)
        if fit:
            self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, dtype=np.float32)
            own = self.vectorizer_.fit_transform(sentences)
        else:
            own = self.vectorizer_.transform(sentences)
        empty = sp.csr_matrix((1, own.shape[1]), dtype=np.float32)
        previous, following, position = [], [], []
        row = 0
        for abstract in abstracts:
            n = len(abstract)
            for i in range(n):
                previous.append(own[row + i - 1] if i > 0 else empty)
                following.append(own[row + i + 1] if i < n - 1 else empty)
                place = np.zeros(POSITION_BINS + 3, dtype=np.float32)
                place[min(POSITION_BINS - 1, int(i / max(n, 1) * POSITION_BINS))] = 1
                place[POSITION_BINS] = i == 0
                place[POSITION_BINS + 1] = i == n - 1
                place[POSITION_BINS + 2] = min(n, 30) / 30
                position.append(place)
            row += n
        return sp.hstack([own, self.context_weight * sp.vstack(previous), self.context_weight * sp.vstack(following),
                          sp.csr_matrix(np.vstack(position))]).tocsr()

    def fit(self, abstracts: list[list[str]], roles: list[list[str]]):
        """Fit on abstracts (each a list of sentences) and their roles (a list per abstract)."""
        X = self._features(abstracts, fit=True)
        y = np.asarray([r for abstract in roles for r in abstract])
        self.model_ = CalibratedClassifierCV(LinearSVC(C=self.C, random_state=0), method="sigmoid", cv=3,
                                             ensemble=False).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, abstracts: list[list[str]]) -> np.ndarray:
        """Probabilities per sentence (all abstracts' sentences in order), columns in ``classes_`` order."""
        X = self._features(abstracts)
        return self.model_.predict_proba(X) if X.shape[0] else np.zeros((0, len(self.classes_)))

    def predict(self, abstracts: list[list[str]]) -> list[list[str]]:
        """A role per sentence, per abstract."""
        proba = self.predict_proba(abstracts)
        flat = [str(self.classes_[i]) for i in proba.argmax(axis=1)] if len(proba) else []
        out, row = [], 0
        for abstract in abstracts:
            out.append(flat[row:row + len(abstract)])
            row += len(abstract)
        return out


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


def train_roles(out: str | Path, data_dir: str | None = None, grid=(0.1, 0.3, 1.0), command: str | None = None) -> dict:
    """Choose C by grouped 3-fold CV on PIBOSO train, fit on train, score dev, save to ``out``."""
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
        folds = []
        for train_idx, test_idx in GroupKFold(3).split(abstracts, groups=pmids):
            model = SentenceRoleClassifier(C=C).fit([abstracts[i] for i in train_idx], [roles[i] for i in train_idx])
            folds.append(scores([roles[i] for i in test_idx],
                                model.predict([abstracts[i] for i in test_idx]))["micro_f1"])
        cv[C] = round(float(np.mean(folds)), 4)
        log.info("C=%s: grouped 3-fold micro-F1 %.4f", C, cv[C])
    best = max(cv, key=cv.get)
    model = SentenceRoleClassifier(C=best).fit(abstracts, roles)
    dev = scores(dev_roles, model.predict(dev_abstracts))
    seconds = round(time.perf_counter() - started, 1)
    meta = {"name": Path(out).name, "version": nlp.__version__, "task": "sentence_roles",
            "model_type": "sentence-roles", "labels": [{"id": str(c), "name": str(c)} for c in model.classes_],
            "params": {"C": best, "context_weight": model.context_weight},
            "training": {"corpus": "nicta_piboso", "split": "train", "abstracts": len(abstracts),
                         "sentences": sum(map(len, abstracts)), "seconds": seconds, "command": command,
                         "machine": machine()},
            "cv_micro_f1_by_C": {str(k): v for k, v in cv.items()}, "dev_metrics": dev}
    card = "\n".join([
        f"# {meta['name']} (version {meta['version']})", "",
        "Sentence roles in abstracts (NICTA-PIBOSO: " + ", ".join(map(str, model.classes_)) + "): TF-IDF of the "
        "sentence and its neighbours plus its relative position, a linear SVM with Platt-calibrated probabilities.",
        "", "## Training",
        f"- Data: NICTA-PIBOSO train ({len(abstracts)} abstracts, {meta['training']['sentences']} sentences)",
        f"- Command: `{command or 'clinnlp train-roles'}`",
        f"- Time: {seconds} s on {meta['training']['machine']}",
        f"- C = {best}, chosen by grouped 3-fold CV micro-F1 on train: {meta['cv_micro_f1_by_C']}",
        "", "## Dev split (NICTA-PIBOSO dev, never used for fitting or choosing)",
        f"{dev['sentences']} sentences: micro-F1 {dev['micro_f1']}, weighted-F1 {dev['weighted_f1']}, "
        f"macro-F1 {dev['macro_f1']}. Per role: "
        + ", ".join(f"{k} {v}" for k, v in dev["per_role_f1"].items()) + ".",
        "", "Published for comparison: HSLN-RNN about 0.847 F1 on this corpus (a neural sequence model).", ""])
    save_model(model, out, meta, card)
    return meta
