"""Every registered classifier type keeps the same contract (a new type is tested by registering it):
``fit`` returns self, fitted attributes end in ``_``, a list in and an array out, save and load give the same
probabilities, a batch equals its documents one at a time, and explanations point at the text."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.base import clone

from nlp.classifiers import Classifier, classifier_types, get_classifier_type
from nlp.model_store import load_model, save_model
from tests.conftest import VOCABULARY, make_note

TYPES = [entry.name for entry in classifier_types()]


def small_params(name: str, tiny_base: str) -> dict:
    """Settings that fit in seconds on the synthetic notes."""
    tfidf = {"min_df": 1, "max_df": 1.0}
    transformer = {"base": tiny_base, "max_length": 32, "stride": 8, "method": "frozen", "n_jobs": 1}
    return {"tfidf.v1": tfidf, "transformer.v1": transformer,
            "ensemble.v1": {"tfidf_params": tfidf, "transformer_params": transformer, "folds": 2},
            "findings.v1": {**tfidf, "findings_rules": False}, "sentences.v1": tfidf}[name]


def notes(multi_label: bool):
    rng = random.Random(5)
    combos = [[label] for label in VOCABULARY] + ([["cardiology", "gastroenterology"]] if multi_label else [])
    texts, labels = [], []
    for combo in combos:
        for _ in range(12):
            texts.append(make_note(combo, rng))
            labels.append(sorted(combo) if multi_label else combo[0])
    return texts, labels


@pytest.fixture(scope="module", params=[(name, multi) for name in TYPES for multi in (False, True)],
                ids=lambda p: f"{p[0]}-{'multi' if p[1] else 'single'}")
def fitted(request, tiny_base):
    from nlp.classifiers import get_classifier_type

    name, multi_label = request.param
    entry = get_classifier_type(name)
    estimator = entry.cls(multi_label=multi_label, **small_params(name, tiny_base))
    texts, labels = notes(multi_label)
    returned = estimator.fit(texts, labels)
    return entry, estimator, returned, texts, labels


def test_contract_fit_returns_self_and_sets_fitted_attributes(fitted):
    entry, estimator, returned, _, _ = fitted
    assert returned is estimator and isinstance(estimator, Classifier)
    unfitted = clone(estimator)
    assert not any(name.endswith("_") and not name.startswith("__") for name in vars(unfitted))
    assert set(unfitted.get_params()) == set(estimator.get_params())
    assert any(name.endswith("_") for name in vars(estimator)) and len(estimator.classes_) >= 3


def test_contract_list_in_array_out_whatever_the_length(fitted):
    _, estimator, _, texts, _ = fitted
    for batch in (texts[:1], texts[:5]):
        proba = estimator.predict_proba(batch)
        assert isinstance(proba, np.ndarray) and proba.shape == (len(batch), len(estimator.classes_))
        assert ((proba >= 0) & (proba <= 1)).all()
        predicted = estimator.predict(batch)
        assert isinstance(predicted, list) and len(predicted) == len(batch)


def test_contract_batch_equals_one_at_a_time(fitted):
    _, estimator, _, texts, _ = fitted
    batch = estimator.predict_proba(texts[:6])
    single = np.vstack([estimator.predict_proba([text]) for text in texts[:6]])
    np.testing.assert_allclose(batch, single, atol=1e-4)


def test_contract_learns_the_synthetic_labels(fitted):
    entry, estimator, _, texts, labels = fitted
    if entry.name == "transformer.v1":
        pytest.skip("a tiny random encoder read frozen is not expected to learn; tested on real data in "
                    "test_transformer.py")
    predicted = estimator.predict(texts)
    agreement = np.mean([sorted(p) == sorted(l) if isinstance(l, list) else p == l for p, l in zip(predicted, labels)])
    assert agreement >= 0.8


def test_contract_save_and_load_give_the_same_probabilities(fitted, tmp_path):
    entry, estimator, _, texts, _ = fitted
    meta = {"name": "m", "version": "0", "task": "multi_label" if estimator.multi_label else "single_label",
            "model_type": entry.name, "labels": [{"id": str(c), "name": str(c)} for c in estimator.classes_]}
    directory = save_model(estimator, tmp_path / "m", meta, "# m\n", entry.libraries)
    loaded = load_model(directory, trusted=True)
    np.testing.assert_allclose(loaded.estimator.predict_proba(texts[:4]), estimator.predict_proba(texts[:4]), atol=1e-5)
    assert set(entry.libraries) <= set(loaded.meta["libraries"])


def test_contract_explanations_point_at_the_text(fitted):
    _, estimator, _, texts, _ = fitted
    features = estimator.transform(texts[:3])
    picks = estimator.decide(estimator.predict_proba_features(features))
    explanations = estimator.explain(texts[:3], features, picks, top_k=5)
    assert len(explanations) == 3
    labels = {str(c) for c in estimator.classes_}
    for text, items in zip(texts[:3], explanations):
        for item in items:
            assert item["label"] in labels and isinstance(item["weight"], float)
            for start, end in item["spans"]:
                assert text[start:end].lower().split()[0] == item["term"].split()[0]


def test_registry_names_are_versioned_and_old_names_still_resolve():
    from nlp.classifiers import get_classifier_type

    for entry in classifier_types():
        assert entry.name.rsplit(".", 1)[-1].startswith("v")
        for alias in entry.aliases:
            assert get_classifier_type(alias) is entry


def test_each_name_resolves_in_a_fresh_process_importing_only_what_it_needs():
    # Types are imported when first named: a transformer model's process never imports the TF-IDF type (nor
    # scikit-learn); every versioned name and alias still resolves however the process started.
    import json
    import subprocess
    import sys

    names = [name for entry in classifier_types() for name in (entry.name, *entry.aliases)]
    script = ("import json, sys; from nlp.classifiers import get_classifier_type; "
              "entry = get_classifier_type(sys.argv[1]); "
              "print(json.dumps([entry.name, 'nlp.classifiers.tfidf' in sys.modules, 'sklearn' in sys.modules]))")
    for name in names:
        run = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True, check=True)
        resolved, tfidf_imported, sklearn_imported = json.loads(run.stdout.splitlines()[-1])
        assert resolved == get_classifier_type(name).name
        if resolved == "transformer.v1":
            assert not tfidf_imported and not sklearn_imported
