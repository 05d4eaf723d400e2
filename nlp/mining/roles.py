"""The role of each sentence of an abstract: background, population, intervention, outcome, study design,
other (the NICTA-PIBOSO scheme), so a reader can pull out populations and outcomes.

A sentence's role depends on its neighbours and its place in the abstract (backgrounds come first,
outcomes last), so each sentence is represented by the TF-IDF of its own words, the TF-IDF of the
previous and next sentences (down-weighted), and its relative position; a linear SVM with calibrated
probabilities does the rest. Trained on the shared NICTA-PIBOSO corpus by ``clinnlp train-roles``
(:mod:`nlp.mining.roles_training`; regularization chosen by grouped cross-validation on the training
abstracts; the dev split is only scored).

It keeps scikit-learn's estimator contract but not the document classifiers' (:mod:`nlp.classifiers.registry`):
it labels a sequence, each sentence of an abstract in the context of its neighbours, so its input is a list of
abstracts (each a list of sentences) and its output a role per sentence, and it has no per-label explanation.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

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
