"""The sentence-aware classifier: it learns from a corpus's labelled sentences, a multi-label document takes its
most probable sentence's probability, and training hands the sentences only to models that take them."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from corpora import load_corpus
from nlp.classifiers import SentenceTfidfClassifier, TfidfClassifier
from nlp.training import TrainingData
from tests.conftest import VOCABULARY, make_note

FILLER = ["The patient was seen in clinic today.", "Follow up is planned in six weeks.",
          "The examination was otherwise unremarkable.", "She reports no other complaints."]


def labelled_documents(seed: int = 3):
    """Documents of one topical sentence among filler sentences; the document's labels are its topical
    sentence's, the filler sentences have none."""
    rng = random.Random(seed)
    texts, labels, sentences = [], [], []
    for specialty in sorted(VOCABULARY):
        for _ in range(15):
            topical = make_note([specialty], rng)
            filler = rng.sample(FILLER, 3)
            position = rng.randrange(4)
            parts = [(s, []) for s in filler]
            parts.insert(position, (topical, [specialty]))
            texts.append(" ".join(s for s, _ in parts))
            labels.append([specialty])
            sentences.append(parts)
    return texts, labels, sentences


@pytest.fixture(scope="module")
def fitted():
    texts, labels, sentences = labelled_documents()
    model = SentenceTfidfClassifier(multi_label=True, min_df=1, max_df=1.0, threshold=0.4)
    return model.fit(texts, labels, sentences=sentences), texts, labels


def test_sentences_learned_from_labelled_sentences_and_predict_the_topic(fitted):
    model, texts, labels = fitted
    assert model.sentences_.classes_.tolist() == sorted(VOCABULARY)
    agreement = np.mean([p == l for p, l in zip(model.predict(texts), labels)])
    assert agreement >= 0.9


def test_sentences_a_multi_label_document_takes_its_most_probable_sentence(fitted):
    model, _, _ = fitted
    text = "The patient was seen in clinic today. The troponin, angina, stent, murmur, chest pain. Follow up."
    features = model.transform([text])
    assert len(features.owners) == 3  # the segmenter cut three sentences
    sentence_proba = model.sentences_.predict_proba_features(features.sentences)
    document_proba = model.documents_.predict_proba_features(features.documents)
    expected = model.weight * document_proba[0] + (1 - model.weight) * sentence_proba.max(axis=0)
    np.testing.assert_allclose(model.predict_proba_features(features)[0], expected)
    assert model.predict([text]) == [["cardiology"]]


def test_sentences_without_labelled_sentences_each_sentence_takes_its_documents_labels(fitted):
    labelled, _, _ = fitted
    texts, labels, _ = labelled_documents()
    unlabelled = SentenceTfidfClassifier(multi_label=True, min_df=1, max_df=1.0).fit(texts, labels)
    # Cut by the segmenter, a filler sentence carries its document's label, so it looks like every label a
    # little; learned from labelled sentences it looks like none.
    filler = ["Follow up is planned in six weeks."]
    assert unlabelled.sentences_.predict_proba(filler).min() > 0.2
    assert labelled.sentences_.predict_proba(filler).max() < 0.1
    assert np.mean([p == l for p, l in zip(unlabelled.predict(texts), labels)]) >= 0.9


def test_sentences_explanations_point_at_the_most_probable_sentence(fitted):
    model, _, _ = fitted
    text = "The patient was seen in clinic today. The troponin, angina, stent, murmur, chest pain. Follow up."
    features = model.transform([text])
    picks = model.decide(model.predict_proba_features(features))
    [items] = model.explain([text], features, picks, top_k=20)
    topical = (text.index("The troponin"), text.index(" Follow"))
    terms = {item["term"] for item in items}
    assert {"troponin", "angina"} <= terms and len(terms) == len(items)  # one item per term
    for item in items:
        assert item["label"] == "cardiology"
        for start, end in item["spans"]:
            assert text[start:end].lower().split()[0].strip(",.") == item["term"].split()[0]
    # The sentence model's words are found in the sentence it read, offsets shifted to the document's.
    for item in items:
        if item["term"] in ("troponin", "angina"):
            assert all(topical[0] <= start < topical[1] for start, _ in item["spans"])


def test_sentences_a_class_no_sentence_had_is_the_document_models():
    texts, labels, sentences = labelled_documents()
    # No sentence is labelled gastroenterology: the sentence model never learns it.
    sentences = [[(s, [label for label in ls if label != "gastroenterology"]) for s, ls in document]
                 for document in sentences]
    model = SentenceTfidfClassifier(multi_label=True, min_df=1, max_df=1.0).fit(texts, labels, sentences=sentences)
    assert "gastroenterology" not in model.sentences_.classes_
    features = model.transform(texts)
    column = list(model.classes_).index("gastroenterology")
    np.testing.assert_allclose(model.predict_proba_features(features)[:, column],
                               model.documents_.predict_proba_features(features.documents)[:, column])


@pytest.mark.parametrize("change, message", [({"weight": 1.5}, "weight must be between 0 and 1"),
                                             ({"sentences": [[("a", [])]]}, "sentences for 1"),
                                             ({"multi_label": False}, "need a multi-label model")])
def test_sentences_bad_arguments_say_what_is_wrong(change, message):
    texts, labels, sentences = labelled_documents()
    sentences = change.pop("sentences", sentences)
    multi_label = change.pop("multi_label", True)
    if not multi_label:
        labels = [label for label, in labels]
    with pytest.raises(ValueError, match=message):
        SentenceTfidfClassifier(multi_label=multi_label, **change).fit(texts, labels, sentences=sentences)


def test_sentences_reach_only_the_models_that_take_them(tmp_path):
    folder = tmp_path / "hallmarks_of_cancer"
    folder.mkdir()
    (folder / "hoc_docs.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"pmid": 1, "text": "Cells evade apoptosis. They grow.", "doc_hallmarks": ["Resisting cell death"],
         "sentences": ["Cells evade apoptosis.", "They grow."],
         "sentence_labels": [["Resisting cell death--Apoptosis"], ["NULL"]]},
        {"pmid": 2, "text": "No hallmark here.", "doc_hallmarks": ["NULL"], "sentences": ["No hallmark here."],
         "sentence_labels": [[]]},
    ]) + "\n")
    dataset = load_corpus("hallmarks", tmp_path)["train"]
    data = TrainingData.from_dataset(dataset, {})
    assert data.sentences == [[("Cells evade apoptosis.", ["Resisting cell death"]), ("They grow.", [])],
                              [("No hallmark here.", [])]]
    assert data.fit_arguments(SentenceTfidfClassifier(), [1]) == {"sentences": [[("No hallmark here.", [])]]}
    assert data.fit_arguments(TfidfClassifier()) == {}


def test_sentences_a_file_where_some_abstracts_lack_them_says_so(tmp_path):
    folder = tmp_path / "hallmarks_of_cancer"
    folder.mkdir()
    (folder / "hoc_docs.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"pmid": 1, "text": "Cells evade apoptosis.", "doc_hallmarks": ["Resisting cell death"],
         "sentences": ["Cells evade apoptosis."], "sentence_labels": [["Resisting cell death--Apoptosis"]]},
        {"pmid": 2, "text": "No hallmark here. None.", "doc_hallmarks": ["NULL"], "sentences": ["No hallmark here."],
         "sentence_labels": [[], []]},
    ]) + "\n")
    with pytest.warns(UserWarning, match="1 of 2 abstracts have no labelled sentences"):
        dataset = load_corpus("hallmarks", tmp_path)["train"]
    assert "sentences" not in dataset.column_names
    assert TrainingData.from_dataset(dataset, {}).sentences_sha256() is None


def test_sentences_their_labels_are_part_of_the_data_hash():
    def data(sentence_labels):
        return TrainingData(["1"], ["Cells evade apoptosis."], [["Resisting cell death"]], True, {},
                            sentences=[[("Cells evade apoptosis.", sentence_labels)]])

    same = data(["Resisting cell death"])
    assert same.sentences_sha256() == data(["Resisting cell death"]).sentences_sha256()
    assert same.sentences_sha256() != data([]).sentences_sha256()
    assert same.sha256() == data([]).sha256()  # the documents' hash stays what older models recorded
