"""The one fold rule: training's cross-validation and an ensemble's out-of-fold predictions split alike."""

import numpy as np
from nlp.folds import kfold_indices


def _covers_once(splits, n):
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(n))
    for train, test in splits:
        assert not set(train.tolist()) & set(test.tolist())


def test_single_label_folds_are_stratified_when_every_class_fills_each_fold():
    labels = ["a"] * 50 + ["b"] * 10
    splits = kfold_indices(labels, 5, multi_label=False, seed=0)
    _covers_once(splits, 60)
    assert [sum(labels[i] == "b" for i in test) for _, test in splits] == [2] * 5


def test_a_class_too_rare_to_stratify_falls_back_to_shuffled_folds():
    labels = ["a"] * 57 + ["b"] * 3
    splits = kfold_indices(labels, 5, multi_label=False, seed=0)
    _covers_once(splits, 60)
    assert splits[0][1].tolist() != list(range(12))  # shuffled, not the first twelve


def test_groups_never_straddle_train_and_test():
    groups = np.repeat(np.arange(12), 5)
    splits = kfold_indices([["x"]] * 60, 4, multi_label=True, groups=groups)
    _covers_once(splits, 60)
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
