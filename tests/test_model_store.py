import json
import warnings

import pytest

from nlp.classifiers.tfidf import TfidfClassifier
from nlp.model_store import ModelError, list_models, load_model, save_model


@pytest.fixture
def saved(tmp_path, single_label_data, tiny_params):
    texts, labels = single_label_data
    model = TfidfClassifier(**tiny_params).fit(texts, labels)
    meta = {"name": "tiny", "version": "3", "task": "single_label",
            "labels": [{"id": c, "name": c.title()} for c in model.classes_]}
    return save_model(model, tmp_path / "store" / "tiny", meta, "# tiny\n")


def test_model_store_writes_metadata_with_hashes_and_versions(saved):
    meta = json.loads((saved / "model.json").read_text())
    assert set(meta["artifacts"]) == {"weights.joblib"}
    assert len(meta["artifacts"]["weights.joblib"]) == 64
    assert {"scikit-learn", "numpy", "python"} <= meta["libraries"].keys()
    assert (saved / "README.md").read_text().startswith("# tiny")


def test_model_store_loads_by_name_from_a_models_folder(saved):
    model = load_model("tiny", models_dir=saved.parent)
    assert (model.name, model.version, model.label_names["cardiology"]) == ("tiny", "3", "Cardiology")
    assert [m["name"] for m in list_models(saved.parent)] == ["tiny"]


def test_model_store_refuses_a_changed_artifact(saved):
    weights = saved / "weights.joblib"
    weights.write_bytes(weights.read_bytes() + b"tampered")
    with pytest.raises(ModelError, match="sha256 .* does not match"):
        load_model(saved, trusted=True)


def test_model_store_unknown_name_lists_known_models(saved):
    with pytest.raises(ModelError, match=r"no model 'nope'.*known: tiny"):
        load_model("nope", models_dir=saved.parent)


def test_model_store_warns_on_library_version_drift(saved):
    meta_path = saved / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["libraries"]["scikit-learn"] = "0.0.1"
    meta_path.write_text(json.dumps(meta))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model(saved, trusted=True)
    assert any("scikit-learn 0.0.1 ->" in str(w.message) for w in caught)


def test_model_store_unreadable_metadata_is_a_clear_error(saved):
    (saved / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable model metadata"):
        load_model(saved, trusted=True)


def test_model_store_loads_pickles_only_from_the_models_folder_unless_trusted(saved, monkeypatch):
    with pytest.raises(ModelError, match="not in the models folder"):
        load_model(saved)
    assert load_model(saved, trusted=True).name == "tiny"
    monkeypatch.setenv("CLINNLP_MODELS_DIR", str(saved.parent))  # a configured models folder is trusted
    assert load_model(saved).name == "tiny" and load_model("tiny").name == "tiny"
