"""What every classifier shares: turning probabilities into decisions and labels."""

from __future__ import annotations

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
