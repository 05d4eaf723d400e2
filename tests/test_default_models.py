"""The committed default models: they load, verify, stay small, and classify plainly worded text."""


import numpy as np
import pytest

from corpora import CorpusError, get_corpus, load_corpus, resolve_data_dir
from nlp.model_store import default_models_dir, load_model
from nlp.training import TrainingData, train

DEFAULTS = ["ohsumed-tfidf", "mtsamples-tfidf"]
MAX_BYTES = 20 * 1024 * 1024


@pytest.mark.parametrize("name", DEFAULTS)
def test_default_model_loads_verified_and_small(name):
    model = load_model(name)
    assert model.name == name
    size = sum(f.stat().st_size for f in (default_models_dir() / name).iterdir())
    assert size <= MAX_BYTES
    assert model.meta["training"]["data_sha256"]


def test_default_ohsumed_labels_have_readable_names():
    model = load_model("ohsumed-tfidf")
    assert len(model.label_names) == 23
    assert model.label_names["C14"] == "Cardiovascular Diseases"
    [label] = model.estimator.predict(["Myocardial infarction and coronary artery disease: angioplasty "
                                       "improved left ventricular ejection fraction after acute infarction."])
    assert label == "C14"


def test_default_mtsamples_predicts_several_specialties():
    model = load_model("mtsamples-tfidf")
    assert model.multi_label
    [labels] = model.estimator.predict([
        "PROCEDURE: Laparoscopic cholecystectomy. The cystic duct and cystic artery were clipped and divided; "
        "the gallbladder was removed from the liver bed. Estimated blood loss minimal."])
    assert {"Surgery", "Gastroenterology"} <= set(labels)


def _data_dir_or_skip():
    try:
        return resolve_data_dir()
    except CorpusError:
        pytest.skip("the shared corpora are not here (set CLINNLP_DATA_DIR)")


@pytest.mark.slow
@pytest.mark.parametrize("name, corpus", [("ohsumed-tfidf", "ohsumed"), ("mtsamples-tfidf", "mtsamples")])
def test_default_model_is_reproducible_by_the_training_command(tmp_path, name, corpus):
    _data_dir_or_skip()
    committed = load_model(name)
    info = get_corpus(corpus)
    data = TrainingData.from_dataset(load_corpus(corpus)["train"], {"corpus": corpus, "split": "train"},
                                     info.label_names, info.grouped_by)
    assert data.sha256() == committed.meta["training"]["data_sha256"]
    retrained = load_model(train(data, "tfidf", tmp_path / name, n_jobs=2))
    assert retrained.meta["params"] == committed.meta["params"]
    for metric in ("accuracy", "micro_f1", "macro_f1"):
        assert retrained.meta["dev_metrics"][metric] == committed.meta["dev_metrics"][metric]
    sample = data.texts[:200]
    np.testing.assert_allclose(retrained.estimator.predict_proba(sample), committed.estimator.predict_proba(sample),
                               atol=1e-4)


TRANSFORMERS = ["ohsumed-transformer", "mtsamples-transformer", "ohsumed-ensemble", "mtsamples-ensemble"]


@pytest.mark.parametrize("name", TRANSFORMERS + ["piboso-roles"])
def test_transformer_ensemble_and_roles_models_are_small_and_pin_their_base(name):
    from nlp.embeddings import MINILM_SHA256

    if not (default_models_dir() / name).is_dir():
        pytest.fail(f"models/{name} is missing: `make transformers` (or `make models`) builds it")
    model = load_model(name)
    size = sum(f.stat().st_size for f in (default_models_dir() / name).iterdir())
    assert size <= MAX_BYTES
    if model.meta["model_type"] == "transformer":
        assert model.meta["base_sha256"] == MINILM_SHA256 == model.estimator.base_sha256_
        assert model.meta["training"]["seconds"] > 0 and "cores" in model.meta["training"]["machine"]


@pytest.mark.slow
@pytest.mark.parametrize("name, corpus", [("ohsumed-transformer", "ohsumed"), ("mtsamples-transformer", "mtsamples"),
                                          ("ohsumed-ensemble", "ohsumed")])
def test_committed_transformer_models_score_their_dev_split_as_their_card_says(name, corpus):
    """The weights on disk are the ones the card's dev figures came from (retraining takes 10-15 minutes
    each: `make transformers`)."""
    from nlp.evaluation import classification_metrics
    from nlp.training import carve_dev

    _data_dir_or_skip()
    model = load_model(name)
    info = get_corpus(corpus)
    data = TrainingData.from_dataset(load_corpus(corpus)["train"], {}, info.label_names, info.grouped_by)
    training = model.meta["training"]
    assert data.sha256() == training["data_sha256"]
    _, dev = carve_dev(data, training["dev_fraction"], training["seed"])
    estimator = model.estimator
    proba = estimator.predict_proba([data.texts[i] for i in dev])
    metrics = classification_metrics([data.labels[i] for i in dev], proba, estimator.decide(proba),
                                     estimator.classes_, model.multi_label)
    for metric in ("accuracy", "micro_f1", "macro_f1"):
        assert abs(metrics[metric] - model.meta["dev_metrics"][metric]) <= 0.005, metric


@pytest.mark.slow
def test_roles_model_is_reproducible_by_its_training_command(tmp_path):
    from nlp.mining.roles import train_roles

    _data_dir_or_skip()
    committed = load_model("piboso-roles")
    meta = train_roles(tmp_path / "piboso-roles")
    assert meta["params"] == committed.meta["params"]
    assert meta["dev_metrics"] == committed.meta["dev_metrics"]
