"""What every classifier shares: turning probabilities into decisions and labels."""

from __future__ import annotations

import numpy as np


class DecisionMixin:
    """``decide`` and ``predict`` from ``predict_proba``, for single- and multi-label classifiers.

    Needs ``multi_label``, ``threshold`` and a fitted ``classes_``.
    """

    def decide(self, proba: np.ndarray) -> list[list[int]]:
        """Indices of the predicted classes for each row of probabilities, most probable first."""
        if not self.multi_label:
            return [[int(i)] for i in proba.argmax(axis=1)]
        chosen = proba >= self.threshold
        chosen[np.arange(len(proba)), proba.argmax(axis=1)] = True
        # Most probable first, so a reader sees the strongest label first.
        return [sorted(np.flatnonzero(row).tolist(), key=lambda i, p=p: -p[i]) for row, p in zip(chosen, proba)]

    def predict(self, texts) -> list:
        """A label per text (single-label), or a list of labels per text (multi-label)."""
        picks = self.decide(self.predict_proba(texts))
        if self.multi_label:
            return [[str(self.classes_[i]) for i in row] for row in picks]
        return [str(self.classes_[row[0]]) for row in picks]
