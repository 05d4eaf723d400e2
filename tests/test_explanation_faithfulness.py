"""The deletion test for explanations: removing a document's most-explained words must cost its predicted label
more probability than removing as many random words (#13)."""

from __future__ import annotations

from nlp.classifiers.tfidf import TfidfClassifier
from nlp.evaluation import _without, deletion_curves


def test_without_replaces_spans_and_merges_overlaps():
    assert _without("chest pain and fever", [[0, 5]]) == "  pain and fever"
    assert _without("chest pain and fever", [[6, 10], [0, 10], [15, 20]]) == "  and  "
    assert _without("no spans", []) == "no spans"


def test_tfidf_explanations_are_more_faithful_than_random_words(single_label_data, tiny_params):
    texts, labels = single_label_data
    model = TfidfClassifier(**tiny_params).fit(texts, labels)
    curves = deletion_curves(model, texts, ks=(1, 3, 5), repeats=2)
    assert curves["documents"] == len(texts) and curves["k"] == [1, 3, 5]
    for explained, random in zip(curves["explained"], curves["random"]):
        assert explained > random
    # Deleting more of the explained terms costs more.
    assert curves["explained"][-1] > curves["explained"][0]
    assert curves["flipped_explained"][-1] >= curves["flipped_random"][-1]


def test_deleting_nothing_changes_nothing(single_label_data, tiny_params):
    texts, labels = single_label_data
    model = TfidfClassifier(**tiny_params).fit(texts, labels)
    one_word = ["."] * 3  # no words: nothing to explain or draw at random
    curves = deletion_curves(model, one_word, ks=(1,), repeats=1)
    assert abs(curves["explained"][0]) < 1e-9 and abs(curves["random"][0]) < 1e-9
