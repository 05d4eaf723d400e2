"""The chest X-ray findings labeler: a registered classifier that reads negation, and its committed model."""

import numpy as np
import pytest

from corpora import CorpusError, load_corpus, resolve_data_dir
from nlp.classifiers import get_classifier_type
from nlp.classifiers.findings import LABELS, FindingsClassifier
from nlp.model_store import default_models_dir, load_model, save_model
from nlp.training import TrainingData, train

REPORTS = [
    ("Heart size is enlarged. No pleural effusion.", ["Cardiomegaly"]),
    ("Cardiomegaly. The lungs are clear.", ["Cardiomegaly"]),
    ("Moderate cardiomegaly without edema.", ["Cardiomegaly"]),
    ("Enlarged cardiac silhouette. No pneumothorax.", ["Cardiomegaly"]),
    ("Small left pleural effusion. Heart size normal.", ["Effusion"]),
    ("Bilateral pleural effusions.", ["Effusion"]),
    ("Right pleural effusion, no pneumothorax.", ["Effusion"]),
    ("Pleural effusion at the left base.", ["Effusion"]),
    ("No pleural effusion or pneumothorax. Normal chest.", ["normal"]),
    ("The lungs are clear. No effusion. Normal heart size.", ["normal"]),
    ("No acute cardiopulmonary abnormality. No pleural effusion.", ["normal"]),
    ("Normal chest x-ray. No cardiomegaly.", ["normal"]),
    ("Heart is normal in size, no pleural effusions.", ["normal"]),
    ("Cardiomegaly and a small right pleural effusion.", ["Cardiomegaly", "Effusion"]),
]


def test_findings_is_a_registered_classifier():
    assert get_classifier_type("findings").cls is FindingsClassifier
    assert get_classifier_type("findings").name == "findings.v1"


def test_findings_rules_read_negation_uncertainty_and_sections():
    model = FindingsClassifier(method="rules").fit([t for t, _ in REPORTS], [l for _, l in REPORTS])
    texts = ["No pneumothorax. Small right pleural effusion.", "Possible right lower lobe pneumonia.",
             "The lungs are clear. No pleural effusion, pneumothorax or consolidation.",
             "Small hiatal hernia."]
    predicted = model.predict(texts)
    assert predicted == [["Effusion"], ["Pneumonia"], ["normal"], ["Hernia"]]
    strict = FindingsClassifier(method="rules", uncertain_present=False).fit(["x"], [[]])
    assert strict.predict(["Possible right lower lobe pneumonia."]) == [[]]


def test_findings_hybrid_learns_that_negated_mentions_are_not_findings(tmp_path):
    texts, labels = [t for t, _ in REPORTS], [l for _, l in REPORTS]
    model = FindingsClassifier(method="hybrid", min_positives=3).fit(texts, labels)
    assert list(model.classes_) == list(LABELS)
    assert {"Cardiomegaly", "Effusion", "normal"}.isdisjoint(model.rule_labels_) and "Hernia" in model.rule_labels_
    proba = model.predict_proba(["Large left pleural effusion.", "No pleural effusion. Normal chest."])
    effusion = LABELS.index("Effusion")
    assert proba[0, effusion] > 0.5 > proba[1, effusion]
    # Batch and single predictions agree, and a save/load round trip keeps them.
    single = np.vstack([model.predict_proba([t]) for t in texts[:4]])
    np.testing.assert_allclose(single, model.predict_proba(texts[:4]), atol=1e-6)
    path = save_model(model, tmp_path / "m", {"name": "m", "version": "1", "task": "multi_label",
                                              "labels": [{"id": l, "name": l} for l in LABELS]}, "# m\n")
    reloaded = load_model(path, trusted=True).estimator
    np.testing.assert_allclose(reloaded.predict_proba(texts[:4]), model.predict_proba(texts[:4]), atol=1e-6)


def test_findings_explanations_point_at_the_mention_and_its_assertion():
    texts, labels = [t for t, _ in REPORTS], [l for _, l in REPORTS]
    model = FindingsClassifier(method="hybrid", min_positives=3).fit(texts, labels)
    text = "No pneumothorax. Large right pleural effusion."
    X = model.transform([text])
    picks = model.decide(model.predict_proba_features(X))
    [explanation] = model.explain([text], X, picks)
    assert "Effusion" in [LABELS[i] for i in picks[0]]
    mention = [item for item in explanation if item.get("concept") == "pleural effusion"]
    assert mention and mention[0]["assertion"] == "affirmed"
    for item in explanation:
        for start, end in item["spans"]:
            assert 0 <= start < end <= len(text)
    assert [text[s:e] for s, e in mention[0]["spans"]] == ["pleural effusion"]
    assert mention[0]["term"] == "pleural effusion" and mention[0]["feature"].startswith("affirmed_")


def test_findings_rules_only_make_sense_for_findings():
    with pytest.raises(ValueError, match="method 'rules' needs"):
        FindingsClassifier(method="rules", multi_label=False).fit(["x", "y"], ["a", "b"])
    with pytest.raises(ValueError, match="method must be"):
        FindingsClassifier(method="vibes").fit(["x"], [["a"]])


def test_findings_committed_model_is_small_and_classifies():
    model = load_model("openi-findings")
    size = sum(f.stat().st_size for f in (default_models_dir() / "openi-findings").iterdir())
    assert size <= 20 * 1024 * 1024
    assert model.multi_label and [label["id"] for label in model.meta["labels"]] == list(LABELS)
    predicted = model.estimator.predict(["The heart is enlarged. No pneumothorax. No pleural effusion.",
                                         "Large right pleural effusion.",
                                         "The lungs are clear. No pleural effusion or pneumothorax. Normal chest."])
    assert "Cardiomegaly" in predicted[0] and "Pneumothorax" not in predicted[0] and "Effusion" not in predicted[0]
    assert "Effusion" in predicted[1]
    assert predicted[2] == ["normal"]


@pytest.mark.slow
def test_findings_committed_model_is_reproducible_by_make_findings(tmp_path):
    try:
        resolve_data_dir()
        dataset = load_corpus("openi_findings")["train"]
    except CorpusError:
        pytest.skip("the shared corpora are not here (set CLINNLP_DATA_DIR)")
    committed = load_model("openi-findings")
    data = TrainingData.from_dataset(dataset, {"corpus": "openi_findings", "split": "train"})
    assert data.sha256() == committed.meta["training"]["data_sha256"]
    retrained = load_model(train(data, "findings", tmp_path / "openi-findings", n_jobs=2), trusted=True)
    assert retrained.meta["params"] == committed.meta["params"]
    for metric in ("micro_f1", "macro_f1"):
        assert abs(retrained.meta["dev_metrics"][metric] - committed.meta["dev_metrics"][metric]) < 0.01
