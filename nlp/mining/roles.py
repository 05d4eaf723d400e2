"""The role of each sentence of an abstract: background, population, intervention, outcome, study design,
other (the NICTA-PIBOSO scheme), so a reader can pull out populations and outcomes.

A sentence's role depends on its neighbours and its place in the abstract (backgrounds come first,
outcomes last), so each sentence is represented by the TF-IDF of its own words, the TF-IDF of the
previous and next sentences (down-weighted), and its relative position; a linear SVM with calibrated
probabilities gives each sentence's roles. A second stage reads the sequence (stacked sequential learning,
Cohen and Carvalho 2005): a logistic regression over the first stage's probabilities for the sentence and its
``sequence_width`` neighbours on each side, and the position, trained on out-of-fold first-stage
probabilities so that it learns how roles follow each other ("population" before "intervention", outcomes
after them) rather than how confident a model is on text it has seen. Trained on the shared NICTA-PIBOSO corpus by ``clinnlp train-roles``
(:mod:`nlp.mining.roles_training`; regularization chosen by grouped cross-validation on the training
abstracts; the dev split is only scored).

It keeps scikit-learn's estimator contract but not the document classifiers' (:mod:`nlp.classifiers.registry`):
it labels a sequence, each sentence of an abstract in the context of its neighbours, so its input is a list of
abstracts (each a list of sentences) and its output a role per sentence, and it has no per-label explanation.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
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
        sequence_width: Neighbours on each side whose first-stage probabilities the second stage reads
            (0: no second stage).
        sequence_C: Regularization of the second stage.
        sequence_folds: Folds (of abstracts) for the out-of-fold probabilities the second stage learns from.
    """

    def __init__(self, C: float = 0.3, context_weight: float = 0.5, sequence_width: int = 3,
                 sequence_C: float = 1.0, sequence_folds: int = 5):
        self.C = C
        self.context_weight = context_weight
        self.sequence_width = sequence_width
        self.sequence_C = sequence_C
        self.sequence_folds = sequence_folds

    def __setstate__(self, state):
        # Models saved before the second stage existed have none.
        state.setdefault("sequence_width", 0)
        state.setdefault("sequence_C", 1.0)
        state.setdefault("sequence_folds", 5)
        state.setdefault("sequence_", None)
        self.__dict__.update(state)

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
        self._fit_first_stage(abstracts, roles)
        self.sequence_ = None
        if self.sequence_width > 0:
            folds = min(self.sequence_folds, len(abstracts))
            if folds < 2:
                log.warning("the sequence stage is left out: it learns from at least two abstracts")
                return self
            out_of_fold = [None] * len(abstracts)
            for train, test in KFold(folds, shuffle=True, random_state=0).split(abstracts):
                if _rarest([roles[i] for i in train]) < 2:
                    log.warning("the sequence stage is left out: a role has fewer than 2 sentences in the training "
                                "part of one of its %d folds (give each role more examples)", folds)
                    return self
                first = SentenceRoleClassifier(C=self.C, context_weight=self.context_weight, sequence_width=0)
                first.fit([abstracts[i] for i in train], [roles[i] for i in train])
                proba = _aligned(first, [abstracts[i] for i in test], self.classes_)
                for i, part in zip(test, _per_abstract(proba, [abstracts[i] for i in test])):
                    out_of_fold[i] = part
            y = np.asarray([r for abstract in roles for r in abstract])
            self.sequence_ = LogisticRegression(C=self.sequence_C, max_iter=2000).fit(
                self._sequence_features(out_of_fold), y)
        return self

    def _fit_first_stage(self, abstracts, roles):
        rarest = _rarest(roles)
        if rarest < 2:
            raise ValueError("every role needs at least 2 sentences to calibrate its probabilities")
        X = self._features(abstracts, fit=True)
        y = np.asarray([r for abstract in roles for r in abstract])
        # Platt scaling on out-of-fold margins: 3 folds, fewer where a role has fewer sentences.
        self.model_ = CalibratedClassifierCV(LinearSVC(C=self.C, random_state=0), method="sigmoid",
                                             cv=min(3, rarest), ensemble=False).fit(X, y)
        self.classes_ = self.model_.classes_

    def _sequence_features(self, proba_per_abstract: list[np.ndarray]) -> np.ndarray:
        """Per sentence: the first-stage probabilities of it and ``sequence_width`` neighbours on each side
        (zeros past either end), and its position."""
        width, rows = self.sequence_width, []
        for proba in proba_per_abstract:
            n, classes = proba.shape
            if not n:
                continue
            padded = np.vstack([np.zeros((width, classes)), proba, np.zeros((width, classes))])
            windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * width + 1, classes))
            place = np.zeros((n, POSITION_BINS + 2))
            index = np.arange(n)
            place[index, np.minimum(POSITION_BINS - 1, (index / n * POSITION_BINS).astype(int))] = 1
            place[0, POSITION_BINS] = place[n - 1, POSITION_BINS + 1] = 1
            rows.append(np.hstack([windows.reshape(n, -1), place]))
        return np.vstack(rows)

    def predict_proba(self, abstracts: list[list[str]]) -> np.ndarray:
        """Probabilities per sentence (all abstracts' sentences in order), columns in ``classes_`` order."""
        X = self._features(abstracts)
        if not X.shape[0]:
            return np.zeros((0, len(self.classes_)))
        proba = self.model_.predict_proba(X)
        if getattr(self, "sequence_", None) is None:
            return proba
        return self.sequence_.predict_proba(self._sequence_features(_per_abstract(proba, abstracts)))

    def predict(self, abstracts: list[list[str]]) -> list[list[str]]:
        """A role per sentence, per abstract."""
        proba = self.predict_proba(abstracts)
        flat = [str(self.classes_[i]) for i in proba.argmax(axis=1)] if len(proba) else []
        return _per_abstract(flat, abstracts)


def _rarest(roles: list[list[str]]) -> int:
    """Sentences of the rarest role (0 when there are none)."""
    counts = Counter(r for abstract in roles for r in abstract)
    return min(counts.values(), default=0)


def _per_abstract(rows, abstracts: list[list[str]]) -> list:
    """``rows`` (one per sentence, every abstract's in order: an array or a list) cut back into one part per
    abstract."""
    out, row = [], 0
    for abstract in abstracts:
        out.append(rows[row:row + len(abstract)])
        row += len(abstract)
    return out


def _aligned(model: SentenceRoleClassifier, abstracts: list[list[str]], classes: np.ndarray) -> np.ndarray:
    """``model``'s probabilities in the column order of ``classes`` (a fold may lack a rare role: zeros)."""
    proba = model.predict_proba(abstracts)
    out = np.zeros((len(proba), len(classes)))
    column = {str(c): j for j, c in enumerate(classes)}
    for k, c in enumerate(model.classes_):
        out[:, column[str(c)]] = proba[:, k]
    return out
