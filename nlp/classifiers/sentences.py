"""A document classifier that also reads each sentence: TF-IDF over the document, and TF-IDF over its sentences
where a corpus labels them (the Hallmarks of Cancer abstracts do), the two probabilities averaged.

A document's label usually rests on one or two of its sentences: an abstract is about apoptosis because one
sentence says so. A model of sentences learns that from the sentences' own labels, where a model of documents
sees the same words diluted in everything else the abstract says. At prediction, a multi-label document's
probability of a label is its most probable sentence's (its labels are the union of its sentences'); a
single-label document's is the mean over its sentences. Sentences are cut by the project's segmenter
(:class:`nlp.segmentation.Segmenter`). Measured on Hallmarks: ``benchmarks/hallmarks_sentences.py``.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from nlp.classifiers.base import DecisionMixin
from nlp.classifiers.registry import ClassifierType
from nlp.classifiers.tfidf import TfidfClassifier

_local = threading.local()


def _segmenter():
    """This thread's segmenter (a Segmenter is used by one thread at a time)."""
    if not hasattr(_local, "segmenter"):
        from nlp.segmentation import Segmenter

        _local.segmenter = Segmenter()
    return _local.segmenter


def cut_sentences(texts: list[str]) -> list[list[str]]:
    """The sentences of each text as the segmenter cuts them (a text without one is its own sentence)."""
    return [[s.text for s in segmented.sentences] or [text]
            for text, segmented in zip(texts, _segmenter().segment(list(texts)))]


@dataclass
class SentenceFeatures:
    """What :meth:`SentenceTfidfClassifier.predict_proba_features` and ``explain`` take: the documents' TF-IDF
    features, their sentences' features, and which document each sentence is from."""

    documents: object
    sentences: object
    owners: np.ndarray


class SentenceTfidfClassifier(DecisionMixin, ClassifierMixin, BaseEstimator):
    """TF-IDF over documents and over their sentences, averaged.

    Args:
        multi_label: Multi-label (``y`` is a list of label lists).
        weight: The document model's share of the average (the sentence model has the rest).
        C, ngram_range, min_df, max_df, max_features, calibration_folds: The two TF-IDF models' settings
            (:class:`~nlp.classifiers.tfidf.TfidfClassifier`).
        threshold: Multi-label decision threshold on the averaged probabilities.
        n_jobs: Parallel jobs for the per-label models.
    """

    def __init__(self, *, multi_label=False, weight=0.5, C=0.3, ngram_range=(1, 2), min_df=2, max_df=0.9,
                 max_features=None, calibration_folds=5, threshold=0.5, n_jobs=None):
        self.multi_label = multi_label
        self.weight = weight
        self.C = C
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.calibration_folds = calibration_folds
        self.threshold = threshold
        self.n_jobs = n_jobs

    def fit(self, texts, y, sentences=None):
        """Fit on ``texts`` and their labels.

        Args:
            sentences: Per text, its sentences with their own labels, ``[(sentence, labels), ...]`` (multi-label)
                or ``[(sentence, label), ...]``, as a corpus that labels sentences gives them. Without them each
                text is cut by the segmenter and every sentence takes its text's labels: the sentence model then
                learns from noisier labels.
        """
        texts = list(texts)
        if len(texts) != len(y):
            raise ValueError(f"got {len(texts)} texts and {len(y)} labels")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight must be between 0 and 1, not {self.weight}")
        if sentences is None:
            sentences = [[(sentence, labels) for sentence in cut]
                         for cut, labels in zip(cut_sentences(texts), y)]
        elif len(sentences) != len(texts):
            raise ValueError(f"got {len(texts)} texts and sentences for {len(sentences)}")
        pairs = [pair for document in sentences for pair in document]
        self.documents_ = self._tfidf().fit(texts, y)
        self.sentences_ = self._tfidf().fit([s for s, _ in pairs], [labels for _, labels in pairs])
        self.classes_ = self.documents_.classes_
        self.learn_whether_no_label(y)
        return self

    def _tfidf(self) -> TfidfClassifier:
        return TfidfClassifier(multi_label=self.multi_label, C=self.C, ngram_range=self.ngram_range,
                               min_df=self.min_df, max_df=self.max_df, max_features=self.max_features,
                               calibration_folds=self.calibration_folds, n_jobs=self.n_jobs)

    def transform(self, texts, explain: bool = False) -> SentenceFeatures:
        """The documents' features and their sentences'; explanations need nothing more."""
        check_is_fitted(self)
        texts = list(texts)
        cut = cut_sentences(texts)
        owners = np.repeat(np.arange(len(texts)), [len(document) for document in cut])
        return SentenceFeatures(self.documents_.transform(texts),
                                self.sentences_.transform([s for document in cut for s in document]), owners)

    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities, shape ``(n_texts, n_classes)`` in the order of ``classes_``."""
        return self.predict_proba_features(self.transform(texts))

    def predict_proba_features(self, features: SentenceFeatures) -> np.ndarray:
        documents = self.documents_.predict_proba_features(features.documents)
        found = self.sentences_.predict_proba_features(features.sentences)
        # The sentence model may lack a class no sentence had: it then adds nothing for that class.
        column = {str(name): j for j, name in enumerate(self.sentences_.classes_)}
        per_class = np.zeros((found.shape[0], len(self.classes_)))
        for j, name in enumerate(self.classes_):
            if str(name) in column:
                per_class[:, j] = found[:, column[str(name)]]
        sentences = np.zeros_like(documents)
        if self.multi_label:
            for j in range(per_class.shape[1]):
                np.maximum.at(sentences[:, j], features.owners, per_class[:, j])
        else:
            np.add.at(sentences, features.owners, per_class)
            sentences /= np.maximum(np.bincount(features.owners, minlength=len(documents)), 1)[:, None]
            sentences /= np.maximum(sentences.sum(axis=1, keepdims=True), 1e-12)
        return self.weight * documents + (1.0 - self.weight) * sentences

    def explain(self, texts, features: SentenceFeatures, picks: list[list[int]], top_k: int = 10) -> list[list[dict]]:
        """The document model's terms for each predicted label, with their offsets in the text."""
        return self.documents_.explain(texts, features.documents, picks, top_k)


def accepts_sentences(estimator) -> bool:
    """Whether ``estimator.fit`` takes a corpus's labelled sentences (``sentences=``)."""
    return "sentences" in inspect.signature(estimator.fit).parameters


SENTENCES = ClassifierType(
    "sentences.v1", SentenceTfidfClassifier, aliases=("sentences",),
    description="TF-IDF over the document and over its sentences (fitted on the sentences' own labels where the "
                "corpus has them), the two probabilities averaged; a multi-label document takes its most probable "
                "sentence's. Explanations are the document model's terms.",
    grid={"single_label": {"weight": [0.5, 0.7], "C": [0.3, 1.0]},
          "multi_label": {"weight": [0.5, 0.7], "C": [0.3, 1.0]}},
    refit=True)
