import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from nlp.classifiers import CLASSIFIERS, get_classifier
from nlp.classifiers.tfidf import TermAnalyzer, TfidfClassifier
from nlp.model_store import load_model, save_model


def fit(data, tiny_params, **params):
    texts, labels = data
    multi = isinstance(labels[0], list)
    return TfidfClassifier(multi_label=multi, **tiny_params, **params).fit(texts, labels)


@pytest.mark.parametrize("calibration", ["sigmoid", "temperature"])
def test_tfidf_single_label_overfits_with_probabilities(single_label_data, tiny_params, calibration):
    texts, labels = single_label_data
    model = fit(single_label_data, tiny_params, calibration=calibration)
    assert model.predict(texts) == labels
    proba = model.predict_proba(texts)
    assert proba.shape == (len(texts), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (proba.max(axis=1) > 0.5).all()


def test_tfidf_multi_label_predicts_every_label_of_a_note(multi_label_data, tiny_params):
    texts, labels = multi_label_data
    model = fit(multi_label_data, tiny_params)
    predicted = model.predict(texts)
    exact = np.mean([sorted(p) == sorted(g) for p, g in zip(predicted, labels)])
    assert exact >= 0.9
    assert all(len(p) >= 1 for p in model.predict(["unrelated words only"]))


def test_tfidf_save_reload_same_predictions_batch_and_single(tmp_path, single_label_data, multi_label_data, tiny_params):
    for data in (single_label_data, multi_label_data):
        texts, _ = data
        model = fit(data, tiny_params)
        meta = {"name": "tiny", "version": "1", "task": "multi_label" if model.multi_label else "single_label",
                "labels": [{"id": c, "name": c} for c in model.classes_]}
        save_model(model, tmp_path / meta["task"], meta, "# tiny\n")
        reloaded = load_model(tmp_path / meta["task"]).estimator
        batch = reloaded.predict_proba(texts)
        np.testing.assert_allclose(batch, model.predict_proba(texts), atol=1e-6)
        single = np.vstack([reloaded.predict_proba([text]) for text in texts])
        np.testing.assert_allclose(single, batch, atol=1e-6)
        assert reloaded.predict(texts) == model.predict(texts)


def test_tfidf_explanation_spans_point_at_the_terms(single_label_data, tiny_params):
    model = fit(single_label_data, tiny_params)
    text = "Seen today.  Chest   PAIN on exertion; troponin raised, chest pain again.\nEchocardiogram booked."
    analyzed = model.analyze([text])
    features = model.transform(analyzed)
    picks = model.decide(model.predict_proba_features(features))
    [explanation] = model.explain(analyzed, features, picks, top_k=10)
    assert explanation and {item["label"] for item in explanation} == {"cardiology"}
    terms = {item["term"]: item for item in explanation}
    assert {"troponin", "echocardiogram", "chest pain"} <= terms.keys()
    for item in explanation:
        assert item["weight"] > 0
        assert item["spans"], item
        for start, end in item["spans"]:
            # The span covers exactly the term's words (stop words between them are skipped, as
            # in the features), whatever the case and spacing in the source.
            words = re.findall(r"\w\w+", text[start:end].lower())
            assert [w for w in words if w not in ENGLISH_STOP_WORDS] == item["term"].split()
            assert text[start:end].lower().startswith(words[0]) and text[start:end].lower().endswith(words[-1])
    assert len(terms["chest pain"]["spans"]) == 2
    weights = [item["weight"] for item in explanation]
    assert weights == sorted(weights, reverse=True)


def test_tfidf_analyzer_bigrams_skip_stop_words_like_scikit_learn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = "Pain in the chest, and pain in the left arm; PAIN-free now."
    ours = TermAnalyzer((1, 2))(text)
    theirs = TfidfVectorizer(ngram_range=(1, 2), stop_words="english").build_analyzer()(text)
    assert ours == theirs
    analysis = TermAnalyzer((1, 2)).analyze(text)
    assert analysis.spans_of({"pain chest"}) == {"pain chest": [(0, 17)]}


def test_tfidf_follows_the_estimator_contract(single_label_data, tiny_params):
    model = TfidfClassifier(C=2.0, **tiny_params)
    assert model.get_params()["C"] == 2.0
    assert not hasattr(model, "classes_")
    assert clone(model).get_params() == model.get_params()
    texts, labels = single_label_data
    assert model.fit(texts, labels) is model
    assert isinstance(model.predict(texts[:1]), list)


def test_tfidf_rejects_bad_training_input(tiny_params):
    with pytest.raises(ValueError, match="at least two classes"):
        TfidfClassifier(**tiny_params).fit(["a b", "c d"], ["x", "x"])
    with pytest.raises(ValueError, match="2 texts and 1 labels"):
        TfidfClassifier(**tiny_params).fit(["a b", "c d"], ["x"])


def test_classifier_registry_lists_known_names():
    assert get_classifier("tfidf") is TfidfClassifier
    with pytest.raises(ValueError, match="known: " + ", ".join(sorted(CLASSIFIERS))):
        get_classifier("bert-huge")
