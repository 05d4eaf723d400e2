"""A learned sentence scorer for the extractive summarizer: how likely a sentence belongs in a summary.

Each sentence is described by its MiniLM embedding and a few document-level features (centrality,
position, length, section, speaker). A logistic regression learns, from the shared summarization sets,
whether the greedy ROUGE oracle would pick the sentence for a summary of the set's usual length. The weights are small enough to ship as JSON inside the package
(``nlp/data/sentence_scorer.json``); ``clinnlp train-summarizer`` rebuilds them (the training code, which reads
the corpora, is :mod:`nlp.summarizers.scorer_training`).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from nlp.segmentation import Sentence

SCORER_FILE = "sentence_scorer.json"
EXTRA_FEATURES = ["centrality", "lexical_centrality", "position", "first", "log_words", "short", "key_section",
                  "doctor_speaks", "patient_speaks", "conversation", "conversation_log_words"]


def sentence_features(sentences: list[Sentence], vectors: np.ndarray, key_sections: frozenset[str]) -> np.ndarray:
    """Features of each sentence of one text: its embedding, then :data:`EXTRA_FEATURES`."""
    count = len(sentences)
    centroid = vectors.mean(axis=0)
    norm = np.linalg.norm(centroid)
    centrality = vectors @ (centroid / norm) if norm > 0 else np.zeros(count)
    words = np.array([s.words for s in sentences], dtype=float)
    conversation = float(sum(s.speaker is not None for s in sentences) >= count / 2)
    extra = np.column_stack([
        centrality,
        lexical_centrality([s.text for s in sentences]),
        1.0 - np.arange(count) / max(count, 1),
        (np.arange(count) == 0).astype(float),
        np.log1p(words),
        (words < 5).astype(float),
        np.array([s.section in key_sections for s in sentences], dtype=float),
        np.array([s.speaker == "doctor" for s in sentences], dtype=float),
        np.array([s.speaker == "patient" for s in sentences], dtype=float),
        np.full(count, conversation),
        conversation * np.log1p(words),
    ])
    return np.hstack([vectors, extra]).astype(np.float32)


def lexical_centrality(texts: list[str]) -> np.ndarray:
    """Mean TF-IDF cosine of each sentence to the others of its text (LexRank's degree centrality).

    Computed as ``row_i . (sum of rows) - row_i . row_i``: linear in the text's size, where the pairwise
    matrix would need memory quadratic in its sentences (10,000 sentences: 800 MB).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(texts) < 2:
        return np.zeros(len(texts))
    try:
        tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    except ValueError:  # only stop words
        return np.zeros(len(texts))
    total = np.asarray(tfidf.sum(axis=0)).ravel()
    self_similarity = np.asarray(tfidf.multiply(tfidf).sum(axis=1)).ravel()
    return (tfidf @ total - self_similarity) / (len(texts) - 1)


class SentenceScorer:
    """Linear model over :func:`sentence_features`, with the standardization it was trained with."""

    def __init__(self, weights: np.ndarray, intercept: float, mean: np.ndarray, scale: np.ndarray, meta: dict,
                 link: str = "identity"):
        self.link = link
        self.weights = np.asarray(weights, dtype=np.float32)
        self.intercept = float(intercept)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.meta = meta

    def predict(self, features: np.ndarray) -> np.ndarray:
        linear = ((features - self.mean) / self.scale) @ self.weights + self.intercept
        return 1.0 / (1.0 + np.exp(-linear)) if self.link == "logistic" else linear

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"meta": self.meta, "link": self.link, "intercept": self.intercept,
                                    "weights": [round(float(w), 6) for w in self.weights],
                                    "mean": [round(float(m), 6) for m in self.mean],
                                    "scale": [round(float(s), 6) for s in self.scale]}) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> "SentenceScorer":
        """Load a scorer file (default: the one shipped in the package)."""
        text = (Path(path).read_text() if path else
                resources.files("nlp").joinpath("data", SCORER_FILE).read_text(encoding="utf-8"))
        data = json.loads(text)
        return cls(np.array(data["weights"]), data["intercept"], np.array(data["mean"]), np.array(data["scale"]),
                   data["meta"], data.get("link", "identity"))
