"""The k-fold splits every cross-validation in the project uses (``clinnlp train --cv``, the CV benchmark and an
ensemble's out-of-fold predictions), so that they all split a corpus the same way."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold


def kfold_indices(labels, k: int, *, multi_label: bool, groups=None, seed: int = 0) -> list:
    """k ``(train, test)`` index pairs over ``labels``: grouped when there are ``groups`` (no group on both sides),
    stratified for single-label data whose every class has at least k examples, else shuffled."""
    index = np.arange(len(labels))
    if groups is not None:
        return list(GroupKFold(k).split(index, groups=groups))
    if not multi_label:
        classes = np.asarray(labels, dtype=str)
        _, counts = np.unique(classes, return_counts=True)
        if counts.min() >= k:
            return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(index, classes))
    return list(KFold(k, shuffle=True, random_state=seed).split(index))
