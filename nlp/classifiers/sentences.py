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

import threading
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from nlp.classifiers.base import DecisionMixin
from nlp.classifiers.registry import ClassifierType, register
from nlp.classifiers.tfidf import TfidfClassifier

_local = threading.local()


def _segmenter():
    """This thread's segmenter (a Segmenter is used by one thread at a time)."""
    if not hasattr(_local, "segmenter"):
        from nlp.segmentation import Segmenter

        _local.segmenter = Segmenter()
    return _local.segmenter


def cut_sentences(texts: list[str]) -> list[list[tuple[str, int]]]:
    """The sentences of each text as the segmenter cuts them, each with its start offset in the text (a text
    without one is its own sentence)."""
    return [[(s.text, s.start) for s in segmented.sentences] or [(text, 0)]
            for text, segmented in zip(texts, _segmenter().segment(list(texts)))]


@dataclass
class SentenceFeatures:
    """What :meth:`SentenceTfidfClassifier.predict_proba_features` and ``explain`` take: the documents' TF-IDF
    features, their sentences' features and the sentence model's probabilities for them (in the columns of
    ``classes_``, read once for both), which document each sentence is from, and each sentence's text and start
    offset in its document."""

    documents: object
    sentences: object
    sentence_proba: np.ndarray
    owners: np.ndarray
    cut: list[tuple[str, int]]


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
            sentences = [[(sentence, labels) for sentence, _ in cut]
                         for cut, labels in zip(cut_sentences(texts), y)]
        elif not self.multi_label:
            raise ValueError("labelled sentences need a multi-label model (a sentence may have no label)")
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
        flat = [pair for document in cut for pair in document]
        sentences = self.sentences_.transform([s for s, _ in flat])
        return SentenceFeatures(self.documents_.transform(texts), sentences,
                                self._per_class(self.sentences_.predict_proba_features(sentences)), owners, flat)

    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities, shape ``(n_texts, n_classes)`` in the order of ``classes_``."""
        return self.predict_proba_features(self.transform(texts))

    def predict_proba_features(self, features: SentenceFeatures) -> np.ndarray:
        documents = self.documents_.predict_proba_features(features.documents)
        by_document = np.zeros_like(documents)
        if self.multi_label:
            np.maximum.at(by_document, features.owners, features.sentence_proba)
        else:
            np.add.at(by_document, features.owners, features.sentence_proba)
            by_document /= np.maximum(np.bincount(features.owners, minlength=len(documents)), 1)[:, None]
            by_document /= np.maximum(by_document.sum(axis=1, keepdims=True), 1e-12)
        # A class no training sentence had: the sentence model knows nothing of it, so the document model decides.
        missing = ~np.isin(np.asarray(self.classes_, dtype=str), np.asarray(self.sentences_.classes_, dtype=str))
        by_document[:, missing] = documents[:, missing]
        return self.weight * documents + (1.0 - self.weight) * by_document

    def _per_class(self, proba: np.ndarray) -> np.ndarray:
        """The sentence model's probabilities in the columns of ``classes_`` (zeros for a class it lacks)."""
        column = {str(name): j for j, name in enumerate(self.sentences_.classes_)}
        aligned = np.zeros((proba.shape[0], len(self.classes_)))
        for j, name in enumerate(self.classes_):
            if str(name) in column:
                aligned[:, j] = proba[:, column[str(name)]]
        return aligned

    def explain(self, texts, features: SentenceFeatures, picks: list[list[int]], top_k: int = 10) -> list[list[dict]]:
        """For each predicted label, the document model's terms and the sentence model's terms in the label's most
        probable sentence, together the ``top_k`` weightiest, with their offsets in the text."""
        texts = list(texts)
        explanations = self.documents_.explain(texts, features.documents, picks, top_k)
        sentence_column = {str(name): j for j, name in enumerate(self.sentences_.classes_)}
        rows = np.arange(len(features.owners))
        for document, (items, chosen) in enumerate(zip(explanations, picks)):
            mine = rows[features.owners == document]
            for label in chosen:
                name = str(self.classes_[label])
                if name not in sentence_column or not len(mine):
                    continue
                best = int(mine[features.sentence_proba[mine, label].argmax()])
                sentence, start = features.cut[best]
                [found] = self.sentences_.explain([sentence], features.sentences[best], [[sentence_column[name]]],
                                                  top_k)
                items.extend({**item, "spans": [[a + start, b + start] for a, b in item["spans"]]} for item in found)
            items[:] = _merged(items, [str(self.classes_[label]) for label in chosen], top_k)
        return explanations


def _merged(items: list[dict], labels: list[str], top_k: int) -> list[dict]:
    """Explanation items in the order of ``labels``, one per term (the larger weight, every span), the ``top_k``
    weightiest of each label."""
    merged: dict[tuple[str, str], dict] = {}
    for item in items:
        key = (item["label"], item["term"])
        if key in merged:
            kept = merged[key]
            spans = sorted({tuple(span) for span in kept["spans"] + item["spans"]})
            merged[key] = {**kept, "weight": max(kept["weight"], item["weight"]), "spans": [list(s) for s in spans]}
        else:
            merged[key] = item
    return [item for label in labels
            for item in sorted((kept for (owner, _), kept in merged.items() if owner == label),
                               key=lambda kept: -kept["weight"])[:top_k]]


SENTENCES = register(ClassifierType(
    "sentences.v1", SentenceTfidfClassifier, aliases=("sentences",),
    description="TF-IDF over the document and over its sentences (fitted on the sentences' own labels where the "
                "corpus has them), the two probabilities averaged; a multi-label document takes its most probable "
                "sentence's. Explanations are the document model's terms and the sentence model's in that sentence.",
    grid={"single_label": {"weight": [0.5, 0.7], "C": [0.3, 1.0]},
          "multi_label": {"weight": [0.5, 0.7], "C": [0.3, 1.0]}},
    refit=True,
    libraries=("scikit-learn", "numpy", "scipy", "joblib", "spacy")))
