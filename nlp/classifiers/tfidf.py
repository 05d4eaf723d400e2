"""TF-IDF features and a linear SVM with calibrated probabilities, single- and multi-label.

Single-label: a one-vs-rest ``LinearSVC`` whose margins are turned into probabilities by a calibrator
fitted on out-of-fold margins (``CalibratedClassifierCV``): Platt scaling per class, renormalized
(``calibration="sigmoid"``, the default: best dev accuracy and log-loss on OHSUMED), or temperature
scaling (``"temperature"``), which keeps the SVM's own argmax; the training command picks one on dev.

Multi-label: one ``LinearSVC`` per label with Platt scaling (``method="sigmoid"``) on out-of-fold
margins; a label is predicted when its probability reaches ``threshold`` (tuned on a dev split), and
the most probable label is always predicted.

Every prediction can be explained: a linear model's margin for a label is the sum over terms of
``tfidf(term) * weight(label, term)``, so the terms with the largest products are exactly what pushed
the document toward that label. :class:`TermAnalyzer` keeps each term's character offsets from the one
pass that builds the features, so explanations point at the words in the input.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfTransformer
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True, slots=True)
class AnalyzedText:
    """A text's terms (unigrams, then n-grams) and the character span of each kept token."""

    terms: list[str]
    token_spans: list[tuple[int, int]]
    ngram_range: tuple[int, int]

    def spans_of(self, wanted: set[str]) -> dict[str, list[tuple[int, int]]]:
        """Character spans of every occurrence of the ``wanted`` terms."""
        found: dict[str, list[tuple[int, int]]] = {}
        tokens = len(self.token_spans)
        offset = 0
        for n in range(self.ngram_range[0], self.ngram_range[1] + 1):
            count = max(0, tokens - n + 1)
            for i in range(count):
                term = self.terms[offset + i]
                if term in wanted:
                    found.setdefault(term, []).append((self.token_spans[i][0], self.token_spans[i + n - 1][1]))
            offset += count
        return found


class TermAnalyzer:
    """Turns a text into word n-gram terms: lowercase ``\\w\\w+`` tokens, stop words removed, n-grams
    of the remaining tokens (as scikit-learn's word analyzer does).

    Called on an :class:`AnalyzedText` it returns its terms unchanged, which lets the vectorizer reuse
    an analysis that also recorded offsets.
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), stop_words: frozenset[str] = ENGLISH_STOP_WORDS):
        self.ngram_range = tuple(ngram_range)
        self.stop_words = frozenset(stop_words)

    def analyze(self, text: str) -> AnalyzedText:
        stop = self.stop_words
        tokens, spans = [], []
        for match in TOKEN_PATTERN.finditer(text):
            token = match.group().lower()
            if token not in stop:
                tokens.append(token)
                spans.append(match.span())
        low, high = self.ngram_range
        terms = list(tokens) if low == 1 else []
        for n in range(max(2, low), high + 1):
            terms.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
        return AnalyzedText(terms, spans, self.ngram_range)

    def __call__(self, doc: str | AnalyzedText) -> list[str]:
        if isinstance(doc, AnalyzedText):
            return doc.terms
        return self.analyze(doc).terms


class TfidfClassifier(ClassifierMixin, BaseEstimator):
    """TF-IDF + linear SVM classifier with calibrated probabilities and explanations.

    Args:
        multi_label: Fit one binary model per label (``y`` is a list of label lists).
        C: SVM regularization (larger fits the training data more closely).
        ngram_range: Word n-gram sizes.
        min_df: Ignore terms in fewer documents than this.
        max_df: Ignore terms in more than this fraction of documents.
        max_features: Keep only the most frequent terms (bounds the model's size).
        threshold: Multi-label decision threshold on calibrated probabilities.
        calibration: ``sigmoid``, ``temperature`` or ``isotonic`` (single-label; multi-label models
            always use per-label ``sigmoid``).
        calibration_folds: Folds for the out-of-fold margins that calibration is fitted on.
        n_jobs: Parallel jobs for the per-label models.
    """

    def __init__(self, *, multi_label=False, C=1.0, ngram_range=(1, 2), min_df=2, max_df=0.9,
                 max_features=None, threshold=0.5, calibration="sigmoid", calibration_folds=5, n_jobs=None):
        self.multi_label = multi_label
        self.C = C
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.threshold = threshold
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.n_jobs = n_jobs

    def fit(self, texts, y):
        """Fit on ``texts`` and labels (``y``: a label per text, or a list of labels per text)."""
        texts = list(texts)
        if len(texts) != len(y):
            raise ValueError(f"got {len(texts)} texts and {len(y)} labels")
        if not self.multi_label and len(set(map(str, y))) < 2:
            raise ValueError("single-label training needs at least two classes")
        self.analyzer_ = TermAnalyzer(self.ngram_range)
        self.vectorizer_ = CountVectorizer(analyzer=self.analyzer_, min_df=self.min_df, max_df=self.max_df,
                                           max_features=self.max_features, dtype=np.float32)
        self.tfidf_ = TfidfTransformer(sublinear_tf=True)
        X = self.tfidf_.fit_transform(self.vectorizer_.fit_transform(texts))
        if self.multi_label:
            self.binarizer_ = MultiLabelBinarizer()
            Y = self.binarizer_.fit_transform(y)
            self.classes_ = self.binarizer_.classes_
            self.estimators_ = Parallel(n_jobs=self.n_jobs)(
                delayed(self._fit_binary)(X, Y[:, j]) for j in range(Y.shape[1]))
        else:
            y = np.asarray(y, dtype=str)
            self.estimator_ = self._calibrated(y, self.calibration).fit(X, y)
            self.classes_ = self.estimator_.classes_
        self._compact()
        return self

    def _calibrated(self, y, method):
        smallest = int(np.unique(y, return_counts=True)[1].min())
        folds = max(2, min(self.calibration_folds, smallest))
        return CalibratedClassifierCV(LinearSVC(C=self.C), method=method, ensemble=False,
                                      cv=StratifiedKFold(folds, shuffle=True, random_state=0))

    def _fit_binary(self, X, y):
        positives = int(y.sum())
        if positives < 2 or positives > len(y) - 2:
            # Too few examples on one side to calibrate: a constant, honest prior.
            return float((positives + 0.5) / (len(y) + 1.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self._calibrated(y, "sigmoid").fit(X, y)

    def _compact(self):
        # Store SVM weights as float32: halves the model on disk at no cost to its predictions.
        for model in self._calibrated_models():
            svm = model.calibrated_classifiers_[0].estimator
            svm.coef_ = svm.coef_.astype(np.float32)
        self.vectorizer_.stop_words_ = None  # the pruned vocabulary is only kept for inspection

    def _calibrated_models(self):
        if self.multi_label:
            return [m for m in self.estimators_ if not isinstance(m, float)]
        return [self.estimator_]

    def analyze(self, texts) -> list[AnalyzedText]:
        check_is_fitted(self)
        return [self.analyzer_.analyze(text) for text in texts]

    def transform(self, texts_or_analyzed):
        """TF-IDF features of raw texts or of :class:`AnalyzedText` (reusing that analysis)."""
        check_is_fitted(self)
        return self.tfidf_.transform(self.vectorizer_.transform(texts_or_analyzed))

    def predict_proba(self, texts) -> np.ndarray:
        """Calibrated probabilities, shape ``(n_texts, n_classes)`` in the order of ``classes_``."""
        return self.predict_proba_features(self.transform(list(texts)))

    def predict_proba_features(self, X) -> np.ndarray:
        if not self.multi_label:
            return self.estimator_.predict_proba(X)
        columns = [np.full(X.shape[0], model) if isinstance(model, float) else model.predict_proba(X)[:, 1]
                   for model in self.estimators_]
        return np.column_stack(columns)

    def decide(self, proba: np.ndarray) -> list[list[int]]:
        """Indices of the predicted classes for each row of probabilities."""
        if not self.multi_label:
            return [[int(i)] for i in proba.argmax(axis=1)]
        chosen = proba >= self.threshold
        chosen[np.arange(len(proba)), proba.argmax(axis=1)] = True
        return [list(np.flatnonzero(row)) for row in chosen]

    def predict(self, texts) -> list:
        """A label per text (single-label), or a list of labels per text (multi-label)."""
        picks = self.decide(self.predict_proba(texts))
        if self.multi_label:
            return [[str(self.classes_[i]) for i in row] for row in picks]
        return [str(self.classes_[row[0]]) for row in picks]

    def _weights(self, class_index: int) -> np.ndarray | None:
        if self.multi_label:
            model = self.estimators_[class_index]
            if isinstance(model, float):
                return None
            return model.calibrated_classifiers_[0].estimator.coef_[0]
        coef = self.estimator_.calibrated_classifiers_[0].estimator.coef_
        # A two-class LinearSVC has one weight vector, pointing at the second class.
        if coef.shape[0] == 1:
            return coef[0] if class_index == 1 else -coef[0]
        return coef[class_index]

    def _feature_names(self) -> np.ndarray:
        # Built once on first use and never pickled: it would double the model on disk.
        if getattr(self, "_names_cache", None) is None:
            self._names_cache = self.vectorizer_.get_feature_names_out()
        return self._names_cache

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_names_cache", None)
        return state

    def explain(self, analyzed: list[AnalyzedText], X, picks: list[list[int]], top_k: int = 10) -> list[list[dict]]:
        """The terms that pushed each text toward each predicted class, strongest first.

        Args:
            analyzed: The texts' analyses (from :meth:`analyze`), which hold the offsets.
            X: Their features (from :meth:`transform` of ``analyzed``).
            picks: Predicted class indices per text (from :meth:`decide`).
            top_k: Terms per predicted class.

        Returns:
            Per text, a list of ``{"label", "term", "weight", "spans": [[start, end], ...]}``.
        """
        terms = self._feature_names()
        explanations = []
        for row, (analysis, classes) in enumerate(zip(analyzed, picks)):
            features = X[row]
            items = []
            for class_index in classes:
                weights = self._weights(class_index)
                if weights is None or features.nnz == 0:
                    continue
                scores = features.data * weights[features.indices]
                best = np.argsort(-scores)[:top_k]
                chosen = [(terms[features.indices[i]], float(scores[i])) for i in best if scores[i] > 0]
                spans = analysis.spans_of({term for term, _ in chosen})
                label = str(self.classes_[class_index])
                items.extend({"label": label, "term": term, "weight": round(score, 4),
                              "spans": [list(span) for span in spans.get(term, [])]} for term, score in chosen)
            explanations.append(items)
        return explanations
