"""What every classifier shares: turning probabilities into decisions and labels; and scikit-learn's estimator
contract for a type that must load without scikit-learn."""

from __future__ import annotations

import inspect

import numpy as np


class DecisionMixin:
    """``decide`` and ``predict`` from ``predict_proba``, for single- and multi-label classifiers.

    Needs ``multi_label``, ``threshold`` and a fitted ``classes_``. A multi-label model predicts every label whose
    probability reaches ``threshold``; when none does, the most probable label, unless its training data had
    documents without any label (``allows_no_label_``, set by :meth:`learn_whether_no_label`): then none, as
    for the Hallmarks of Cancer abstracts, of which about 15% name no hallmark.
    """

    # Models saved before the attribute existed were trained on data where every document had a label.
    allows_no_label_ = False

    def learn_whether_no_label(self, y) -> None:
        """Multi-label: may predict no label exactly when some training document has none."""
        self.allows_no_label_ = bool(self.multi_label and any(len(labels) == 0 for labels in y))

    def decide(self, proba: np.ndarray) -> list[list[int]]:
        """Indices of the predicted classes for each row of probabilities, most probable first."""
        if not self.multi_label:
            return [[int(i)] for i in proba.argmax(axis=1)]
        chosen = proba >= self.threshold
        if not self.allows_no_label_ and len(proba):
            chosen[np.arange(len(proba)), proba.argmax(axis=1)] = True
        # Most probable first, so a reader sees the strongest label first.
        return [sorted(np.flatnonzero(row).tolist(), key=lambda i, p=p: -p[i]) for row, p in zip(chosen, proba)]

    def predict(self, texts) -> list:
        """A label per text (single-label), or a list of labels per text (multi-label)."""
        picks = self.decide(self.predict_proba(texts))
        if self.multi_label:
            return [[str(self.classes_[i]) for i in row] for row in picks]
        return [str(self.classes_[row[0]]) for row in picks]


class Parameters:
    """scikit-learn's parameter contract (``get_params``, ``set_params``; ``sklearn.base.clone`` works) for a
    classifier whose saved models must load without importing scikit-learn: importing it costs a process about
    1.5 s (scipy.stats and pandas come with it), most of what a transformer model's ``clinnlp classify`` takes to
    start on ONNX Runtime. The parameters are the constructor's keyword arguments, stored under their names."""

    @classmethod
    def _defaults(cls) -> dict:
        """The constructor's keyword arguments and their defaults, by name."""
        parameters = sorted(inspect.signature(cls.__init__).parameters.items())
        return {name: parameter.default for name, parameter in parameters
                if name != "self" and parameter.kind is not parameter.VAR_KEYWORD}

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments, as now set (``deep`` is accepted for scikit-learn; no parameter here is
        an estimator)."""
        return {name: getattr(self, name) for name in self._defaults()}

    def set_params(self, **params):
        """Set constructor arguments by name; an unknown name is a ``ValueError`` that lists the known ones."""
        known = list(self._defaults())
        for name, value in params.items():
            if name not in known:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {', '.join(known)}")
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        """What scikit-learn's tools read of an estimator (``is_classifier``, ``check_is_fitted``); called only by
        them, so scikit-learn is loaded already."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_label=self.multi_label),
                    input_tags=InputTags(two_d_array=False, string=True))

    def __repr__(self) -> str:
        defaults = self._defaults()
        changed = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items()
                            if not (value is defaults[name] or value == defaults[name]))
        return f"{type(self).__name__}({changed})"


def check_fitted(estimator) -> None:
    """scikit-learn's ``check_is_fitted`` rule (fitted attributes end in ``_``) without importing scikit-learn for a
    fitted estimator; an unfitted one gets scikit-learn's ``NotFittedError``."""
    if not any(name.endswith("_") and not name.startswith("__") for name in vars(estimator)):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet: call fit first")
