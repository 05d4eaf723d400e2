import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from nlp.classifiers import classifier_types, get_classifier_type
from nlp.classifiers.tfidf import TermAnalyzer, TfidfClassifier
from nlp.model_store import load_model, save_model


def kept_words(span: str) -> list[str]:
    """The words a span holds once stop words are skipped; it must start and end on a kept word."""
    words = re.findall(r"\w\w+", span.lower())
    assert span.lower().startswith(words[0]) and span.lower().endswith(words[-1]), span
    return [w for w in words if w not in ENGLISH_STOP_WORDS]


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


def test_tfidf_multi_label_predicts_no_label_only_when_its_training_data_had_documents_without_one(
        multi_label_data, tiny_params):
    texts, labels = multi_label_data
    assert not fit(multi_label_data, tiny_params).allows_no_label_
    filler = ["The weather report mentions rain and wind over the harbour today."] * 10
    model = fit((texts + filler, labels + [[]] * 10), tiny_params)
    assert model.allows_no_label_
    assert model.predict([filler[0], texts[0]]) == [[], labels[0]]
    # A model pickled before the attribute existed keeps always predicting a label.
    del model.allows_no_label_
    assert len(model.predict([filler[0]])[0]) == 1


def test_tfidf_save_reload_same_predictions_batch_and_single(tmp_path, single_label_data, multi_label_data, tiny_params):
    for data in (single_label_data, multi_label_data):
        texts, _ = data
        model = fit(data, tiny_params)
        meta = {"name": "tiny", "version": "1", "task": "multi_label" if model.multi_label else "single_label",
                "labels": [{"id": c, "name": c} for c in model.classes_]}
        save_model(model, tmp_path / meta["task"], meta, "# tiny\n")
        reloaded = load_model(tmp_path / meta["task"], trusted=True).estimator
        batch = reloaded.predict_proba(texts)
        np.testing.assert_allclose(batch, model.predict_proba(texts), atol=1e-6)
        single = np.vstack([reloaded.predict_proba([text]) for text in texts])
        np.testing.assert_allclose(single, batch, atol=1e-6)
        assert reloaded.predict(texts) == model.predict(texts)


def test_tfidf_explanation_spans_point_at_the_terms(single_label_data, tiny_params):
    model = fit(single_label_data, tiny_params)
    text = "Seen today.  Chest   PAIN on exertion; troponin raised, chest pain again.\nEchocardiogram booked."
    features = model.transform([text])
    picks = model.decide(model.predict_proba_features(features))
    [explanation] = model.explain([text], features, picks, top_k=10)
    assert explanation and {item["label"] for item in explanation} == {"cardiology"}
    terms = {item["term"]: item for item in explanation}
    assert {"troponin", "echocardiogram", "chest pain"} <= terms.keys()
    for item in explanation:
        assert item["weight"] > 0
        assert item["spans"], item
        for start, end in item["spans"]:
            # The span covers exactly the term's words (stop words between them are skipped, as
            # in the features), whatever the case and spacing in the source.
            assert kept_words(text[start:end]) == item["term"].split()
    assert len(terms["chest pain"]["spans"]) == 2
    weights = [item["weight"] for item in explanation]
    assert weights == sorted(weights, reverse=True)


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 3), (2, 3)])
def test_tfidf_analyzer_matches_scikit_learn(ngram_range, single_label_data):
    from sklearn.feature_extraction.text import TfidfVectorizer

    theirs = TfidfVectorizer(ngram_range=ngram_range, stop_words="english").build_analyzer()
    texts = ["Pain in the chest, and pain in the left arm; PAIN-free now. Ünïcode Straße a b c_d 12 x9"]
    for text in texts + single_label_data[0]:
        assert TermAnalyzer(ngram_range)(text) == theirs(text)


@pytest.mark.parametrize("text, chest_pains", [
    ("Pain in the chest, and pain in the left arm; PAIN-free now. Chest pain.", 2),  # "chest, and pain" counts
    ("İstanbul: pain in the chest; İİ chest pain", 1),  # lowercasing changes the length of "İ"
])
def test_tfidf_analyzer_spans_cover_each_occurrence(text, chest_pains):
    analyzer = TermAnalyzer((1, 2))
    spans = analyzer.spans(text, {"pain chest", "chest pain", "chest", "arm"})
    pain_chest = re.search("pain in the chest", text, re.IGNORECASE).start()
    assert spans["pain chest"][0] == (pain_chest, pain_chest + len("pain in the chest"))
    assert [text[s:e].lower() for s, e in spans["chest"]] == ["chest"] * text.lower().count("chest")
    assert [kept_words(text[s:e]) for s, e in spans["chest pain"]] == [["chest", "pain"]] * chest_pains
    assert ("arm" in spans) == ("arm" in text)


def test_tfidf_fast_transform_equals_the_vectorizer(single_label_data, tiny_params):
    model = fit(single_label_data, tiny_params)
    texts = single_label_data[0] + ["unknown words only", "chest pain chest pain troponin"]
    expected = model.tfidf_.transform(model.vectorizer_.transform(texts))
    np.testing.assert_allclose(model.transform(texts).toarray(), expected.toarray(), rtol=1e-6)


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
    assert get_classifier_type("tfidf") is get_classifier_type("tfidf.v1")
    assert get_classifier_type("tfidf").cls is TfidfClassifier
    with pytest.raises(ValueError, match="known: " + ", ".join(entry.name for entry in classifier_types())):
        get_classifier_type("bert-huge")


@pytest.mark.parametrize("multi_label", [False, True])
def test_tfidf_with_appended_vectors_learns_from_them_and_explains_only_terms(single_label_data, multi_label_data,
                                                                           tiny_params, multi_label):
    texts, labels = multi_label_data if multi_label else single_label_data
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 4)).astype(np.float32)
    with pytest.raises(ValueError, match="vectors"):
        TfidfClassifier(multi_label=multi_label, **tiny_params).fit(texts, labels, vectors=vectors[:-1])
    model = TfidfClassifier(multi_label=multi_label, **tiny_params).fit(texts, labels, vectors=vectors)
    terms = model.transform(texts)
    assert TfidfClassifier.with_vectors(terms, None) is terms
    features = TfidfClassifier.with_vectors(terms, vectors)
    assert features.shape == (len(texts), terms.shape[1] + 4)
    assert model.vector_weights().shape == (len(model.classes_), 4) and np.abs(model.vector_weights()).sum() > 0
    proba = model.predict_proba_features(features)
    assert proba.shape == (len(texts), len(model.classes_))
    with pytest.raises(ValueError):  # the vectors are part of what the model reads
        model.predict_proba_features(terms)
    explained = model.explain(texts, terms, model.decide(proba))
    vocabulary = set(model.vectorizer_.vocabulary_)
    assert all(item["term"] in vocabulary for row in explained for item in row)
