"""The transformer classifier on a tiny BERT built here from a config (no network, seconds to train)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nlp.classifiers import get_classifier_type
from nlp.classifiers.ensemble import EnsembleClassifier
from nlp.classifiers.transformer import TransformerClassifier
from nlp.classifiers.windows import balanced_windows, length_sorted_batches, split_windows, window_starts
from nlp.model_store import load_model, save_model
from nlp.onnx_export import EXPORT_VERSION

pytest.importorskip("torch")


def tiny(tiny_base, **params):
    settings = {"base": tiny_base, "method": "lora", "normalize": False, "max_length": 32, "stride": 8, "epochs": 3,
                "learning_rate": 5e-3, "batch_size": 8, "C": 10.0, "n_jobs": 1}
    return TransformerClassifier(**{**settings, **params})


@pytest.fixture(scope="module")
def trained(tiny_base):
    from tests.conftest import VOCABULARY, make_note
    import random

    rng = random.Random(3)
    texts, labels = [], []
    for label in VOCABULARY:
        for _ in range(14):
            texts.append(make_note([label], rng))
            labels.append(label)
    return tiny(tiny_base).fit(texts, labels), texts, labels


def test_windows_cover_every_token_and_overlap():
    for n_tokens in [0, 1, 30, 31, 100, 1000]:
        starts = window_starts(n_tokens, 30, 8)
        covered = set()
        for start in starts:
            covered.update(range(start, min(start + 30, n_tokens)))
        assert covered == set(range(n_tokens))
        assert all(b - a <= 22 for a, b in zip(starts, starts[1:]))  # neighbours share 8 tokens
    with pytest.raises(ValueError):
        window_starts(100, 8, 8)


def test_balanced_windows_are_the_fewest_of_one_length_that_cover_and_overlap():
    for body, stride in [(30, 8), (254, 32), (10, 1)]:
        for n_tokens in range(0, 12 * body):
            starts, length = balanced_windows(n_tokens, body, stride)
            assert length <= body and starts[0] == 0 and starts[-1] + length == n_tokens
            assert all(later - earlier <= length - stride for earlier, later in zip(starts, starts[1:]))
            fixed = window_starts(n_tokens, body, stride)
            assert len(starts) <= len(fixed)  # never more windows than fixed ones, each no longer
            if len(starts) > 1:  # one window fewer would not fit the tokens and the overlaps
                assert (len(starts) - 1) * body < n_tokens + (len(starts) - 2) * stride
    assert balanced_windows(300, 254, 32) == ([0, 134], 166)
    with pytest.raises(ValueError):
        balanced_windows(100, 8, 8)


def test_a_100000_character_note_is_read_to_its_last_word(tiny_base):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    text = " ".join(f"word{i % 97} finding" for i in range(9000)) + " FINALWORD"
    assert len(text) > 100_000
    windows = split_windows(tokenizer, [text], max_length=256, stride=32)
    assert all(len(ids) <= 256 for ids in windows.input_ids)
    spans = windows.covered(0)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))  # no gap between windows


def test_length_sorted_batches_keep_every_index_once_within_the_token_budget():
    lengths = [5, 300, 17, 256, 3, 90, 90, 12]
    batches = length_sorted_batches(lengths, max_tokens=400, max_batch=3)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for rows in batches:
        assert len(rows) <= 3
        assert len(rows) == 1 or max(lengths[i] for i in rows) * len(rows) <= 400


def test_the_end_of_a_long_document_changes_its_vector(trained):
    model, texts, _ = trained
    head = " ".join(texts[:6])  # far longer than one 32-token window
    a, b = model.transform([head + " fracture femur tibia", head + " colonoscopy polyp bowel"])
    assert not np.allclose(a, b, atol=1e-4)


def test_trains_and_predicts_with_calibrated_probabilities(trained):
    model, texts, labels = trained
    proba = model.predict_proba(texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    accuracy = np.mean(np.array(model.predict(texts)) == np.array(labels))
    assert accuracy >= 0.9
    assert 0.05 < model.temperature_ < 20
    assert model.adapter_ and model.encoder_state_ is None  # LoRA: only adapters are stored


def test_save_reload_and_batch_equals_one_at_a_time(trained, tmp_path):
    model, texts, _ = trained
    save_model(model, tmp_path / "m", {"name": "m", "version": "0", "task": "single_label",
                                       "model_type": "transformer", "labels": []}, "card")
    reloaded = load_model(tmp_path / "m", trusted=True).estimator
    batch = reloaded.predict_proba(texts[:6])
    np.testing.assert_allclose(batch, model.predict_proba(texts[:6]), atol=2e-3)
    single = np.vstack([reloaded.predict_proba([t]) for t in texts[:6]])
    np.testing.assert_allclose(batch, single, atol=2e-3)  # padding in a batch changes nothing
    assert (tmp_path / "m" / "weights.joblib").stat().st_size < 2_000_000


def test_refuses_a_base_whose_weights_changed(trained, tmp_path):
    model, texts, _ = trained
    import joblib

    joblib.dump(model, tmp_path / "w.joblib")
    copy = joblib.load(tmp_path / "w.joblib")
    copy.base_sha256_ = "0" * 64
    with pytest.raises(ValueError, match="sha256"):
        copy.predict_proba(texts[:1])


def test_a_local_base_is_hashed_once_per_version_of_its_weights(tmp_path, monkeypatch):
    import hashlib

    from nlp.classifiers.transformer import resolve_base

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    assert resolve_base(str(tmp_path)) == resolve_base(str(tmp_path)) == (str(tmp_path), real(b"weights").hexdigest())
    assert len(calls) == 1
    weights.write_bytes(b"other weights")  # another size: another version, hashed again
    assert resolve_base(str(tmp_path))[1] == real(b"other weights").hexdigest()


def test_the_fingerprint_is_hashed_once_and_follows_the_weights(trained, tmp_path, monkeypatch):
    model, _, _ = trained
    import copy as copying
    import hashlib

    import joblib

    first = model.fingerprint()
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    assert model.fingerprint() == first and calls == []  # remembered, not hashed again
    monkeypatch.undo()
    joblib.dump(model, tmp_path / "m.joblib")
    assert joblib.load(tmp_path / "m.joblib").fingerprint() == first  # the memo is not saved; the hash is the same
    changed = copying.deepcopy(model)
    state = changed.adapter_ if changed.adapter_ else changed.encoder_state_
    key = sorted(state)[0]
    state_copy = dict(state)
    state_copy[key] = state[key] + 1
    if changed.adapter_:
        changed.adapter_ = state_copy
    else:
        changed.encoder_state_ = state_copy
    assert changed.fingerprint() != first
    # Swapping the weights twice without asking in between (a freed dict's address may be reused) is still seen.
    swapped = copying.deepcopy(model)
    for _ in range(2):
        if swapped.adapter_:
            swapped.adapter_ = dict(state_copy)
        else:
            swapped.encoder_state_ = dict(state_copy)
    assert swapped.fingerprint() == changed.fingerprint() != first


def test_onnx_runtime_agrees_with_torch(trained, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(tmp_path))
    model, texts, labels = trained
    torch_proba = clone_fitted(model, runtime="torch", precision="fp32").predict_proba(texts)
    # fp32: the same encoder exported; the same probabilities within float tolerance.
    fp32 = clone_fitted(model, runtime="onnx", precision="fp32")
    assert fp32.inference_runtime() == ("onnx", "fp32")
    np.testing.assert_allclose(fp32.predict_proba(texts), torch_proba, atol=1e-4)
    (export,) = tmp_path.glob("encoder-*.onnx")
    assert export.name.split(".", 1)[1] == f"{EXPORT_VERSION}.fp32.onnx"
    # int8: quantized weights; close, not equal.
    onnx_proba = clone_fitted(model, runtime="onnx", precision="int8").predict_proba(texts)
    assert list(tmp_path.glob("encoder-*.int8-per-channel.onnx"))
    assert np.abs(onnx_proba - torch_proba).max() < 0.1
    assert (onnx_proba.argmax(1) == torch_proba.argmax(1)).mean() >= 0.95


def test_a_bert_export_fuses_attention_and_gives_the_encoders_hidden_states(tiny_base, tmp_path):
    import onnx
    import onnxruntime
    import torch
    from transformers import AutoModel

    from nlp.onnx_export import export_encoder

    encoder = AutoModel.from_pretrained(tiny_base).eval()
    attention = encoder.config._attn_implementation
    assert export_encoder(encoder, tmp_path / "encoder.onnx")
    assert not encoder.training and encoder.config._attn_implementation == attention  # a copy was traced
    # One Attention operator per layer and one for the embeddings: what makes ONNX Runtime fast on BERT.
    operators = [node.op_type for node in onnx.load(str(tmp_path / "encoder.onnx")).graph.node]
    assert operators.count("Attention") == encoder.config.num_hidden_layers
    assert operators.count("EmbedLayerNormalization") == 1
    # The classic attention was this encoder's only while it was traced.
    assert all("forward" not in layer.attention.self.__dict__ for layer in encoder.encoder.layer)
    # A padded batch: the real tokens' hidden states are the encoder's.
    ids = np.array([[101, 7592, 2088, 2003, 102, 0, 0], [101, 2054, 2003, 2023, 2005, 1029, 102]], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    session = onnxruntime.InferenceSession(str(tmp_path / "encoder.onnx"), providers=["CPUExecutionProvider"])
    fused = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    with torch.inference_mode():
        expected = encoder(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
    np.testing.assert_allclose(fused * mask[..., None], expected.numpy() * mask[..., None], atol=1e-5)


def test_a_damaged_onnx_export_in_the_cache_is_made_again(trained, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(tmp_path))
    model, texts, _ = trained
    # Models of one encoder share an open session (per thread count): 3 threads, which no other test's model has
    # open, so the second model has to read the file.
    first = clone_fitted(model, runtime="onnx", precision="fp32", n_jobs=3).predict_proba(texts)
    (export,) = tmp_path.glob("encoder-*.fp32.onnx")
    export.write_bytes(export.read_bytes()[:5000])
    np.testing.assert_allclose(clone_fitted(model, runtime="onnx", precision="fp32", n_jobs=3).predict_proba(texts),
                               first, atol=1e-6)
    assert export.stat().st_size > 5000


def test_models_that_run_the_same_encoder_share_one_onnx_session(trained, tmp_path, monkeypatch):
    # An ensemble and the transformer model whose weights it reused run one encoder: one session in memory, called
    # from both models' threads at once with the results each would get alone.
    import gc
    from concurrent.futures import ThreadPoolExecutor

    from nlp.classifiers import transformer

    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(tmp_path))
    model, texts, _ = trained
    # 3 threads: a session no other test's live model has open (sessions are shared per thread count too).
    one, other = (clone_fitted(model, runtime="onnx", precision="fp32", n_jobs=3) for _ in range(2))
    alone = one.predict_proba(texts)
    (one_tokenizer, session), (other_tokenizer, other_session) = one._onnx_parts(), other._onnx_parts()
    assert session is other_session and one_tokenizer is not other_tokenizer
    assert clone_fitted(model, runtime="onnx", precision="int8")._onnx_parts()[1] is not session
    with ThreadPoolExecutor(4) as pool:
        for proba in pool.map(lambda m: m.predict_proba(texts), [one, other] * 4):
            np.testing.assert_allclose(proba, alone, atol=1e-5)
    keys = [key for key in transformer._SESSIONS.keys() if key == (one.fingerprint(), "fp32", 3)]
    assert len(keys) == 1
    del one, other, session, other_session
    gc.collect()
    assert keys[0] not in transformer._SESSIONS  # it went with the last model that used it


def test_auto_runtime_is_torch_for_bfloat16_tiles_and_onnx_runtime_otherwise(trained, monkeypatch):
    from nlp.classifiers import transformer

    model, _, _ = trained
    monkeypatch.setattr(transformer, "bf16_supported", lambda: True)
    monkeypatch.setattr(transformer, "amx_supported", lambda: True)
    assert clone_fitted(model, runtime="auto").inference_runtime() == ("torch", "bf16")
    assert clone_fitted(model, runtime="auto", precision="fp32").inference_runtime() == ("onnx", "fp32")
    assert clone_fitted(model, runtime="onnx").inference_runtime() == ("onnx", "fp32")
    # AVX512-BF16 without AMX: ONNX Runtime in fp32 reads faster than torch in bfloat16, but torch itself is
    # faster in bfloat16 than in fp32, so a caller who asks for torch gets bfloat16.
    monkeypatch.setattr(transformer, "amx_supported", lambda: False)
    assert clone_fitted(model, runtime="auto").inference_runtime() == ("onnx", "fp32")
    assert clone_fitted(model, runtime="auto", precision="bf16").inference_runtime() == ("torch", "bf16")
    assert clone_fitted(model, runtime="torch").inference_runtime() == ("torch", "bf16")
    monkeypatch.setattr(transformer, "bf16_supported", lambda: False)
    assert clone_fitted(model, runtime="auto").inference_runtime() == ("onnx", "fp32")
    assert clone_fitted(model, runtime="auto", precision="int8").inference_runtime() == ("onnx", "int8")
    assert clone_fitted(model, runtime="torch").inference_runtime() == ("torch", "fp32")
    assert TransformerClassifier().inference_runtime()[0] == "torch"  # not fitted: training runs torch
    for bad in ({"runtime": "torch", "precision": "int8"}, {"runtime": "onnx", "precision": "bf16"},
                {"runtime": "tensorflow"}, {"precision": "fp16"}):
        with pytest.raises(ValueError):
            clone_fitted(model).set_runtime(**bad)


def test_the_onnx_tokenizer_splits_as_the_transformers_one(tiny_base, tmp_path):
    from transformers import AutoTokenizer

    from nlp.classifiers.windows import FastTokenizer

    texts = ["Pt c/o SOB x3 days; denies chest pain.", "Ärztlicher Befund: naïve café — 37.5°C, BP 120/80 mmHg.",
             "", "a " * 300 + "FINALWORD", "Über-long\ttabs\nand new lines\u00a0nbsp 中文"]
    transformers_tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    FastTokenizer.from_transformers(transformers_tokenizer).save(tmp_path / "tokenizer.json")
    fast = FastTokenizer.load(tmp_path / "tokenizer.json")  # what a process without transformers reads
    plain = split_windows(transformers_tokenizer, texts, 32, 8)
    ours = split_windows(fast, texts, 32, 8)
    assert ours.input_ids == plain.input_ids and ours.offsets == plain.offsets
    assert list(ours.document) == list(plain.document)


def predict_in_fresh_processes(model, texts, tmp_path, runs=2) -> list[dict]:
    """Save ``model`` and predict and explain ``texts`` with it in ``runs`` fresh processes, one after the other,
    sharing the cache folder ``tmp_path/cache``: each run's probabilities, explanations and whether it imported torch,
    transformers, torch's compiler stack and scikit-learn."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "m"
    save_model(model, folder, {"name": "m", "version": "0", "task": "single_label", "model_type": "transformer",
                               "labels": []}, "card")
    script = ("import json, sys; from nlp.model_store import load_model; "
              "model = load_model(sys.argv[1], trusted=True).estimator; "
              "texts = json.loads(sys.argv[2]); features = model.transform(texts, explain=True); "
              "proba = model.predict_proba_features(features); "
              "explained = model.explain(texts, features, model.decide(proba)); "
              "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules, "
              "'compiler': 'torch._dynamo' in sys.modules, 'sklearn': 'sklearn' in sys.modules, "
              "'proba': proba.tolist(), 'explained': explained}))")
    environ = {**os.environ, "CLINNLP_CACHE_DIR": str(tmp_path / "cache")}
    return [json.loads(subprocess.run([sys.executable, "-c", script, str(folder), json.dumps(texts)], env=environ,
                                      capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            for _ in range(runs)]


def test_a_saved_model_predicts_on_onnx_runtime_without_importing_torch(trained, tmp_path):
    # What makes `clinnlp classify` start in under a second on a CPU without AMX: once the encoder is exported
    # (first use), a process predicts and explains with ONNX Runtime and the tokenizers library alone; nor does a
    # single-label model import scikit-learn (1.5 s), whose estimators only the TF-IDF types and training need.
    pytest.importorskip("onnxruntime")
    model, texts, _ = trained
    expected = clone_fitted(model, runtime="torch", precision="fp32").predict_proba(texts[:3])
    runs = predict_in_fresh_processes(clone_fitted(model, runtime="onnx"), texts[:3], tmp_path)
    assert list((tmp_path / "cache").glob("encoder-*.fp32.onnx"))  # the first process exported it
    assert (runs[1]["torch"], runs[1]["transformers"], runs[1]["sklearn"]) == (False, False, False)
    for run in runs:
        np.testing.assert_allclose(run["proba"], expected, atol=1e-4)
        assert all(items for items in run["explained"]), "every text is explained"
    assert runs[0]["explained"] == runs[1]["explained"]


def test_explanations_leave_out_scikit_learns_stop_words():
    # The package keeps a copy of scikit-learn's list, so explaining needs no scikit-learn import.
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from nlp.classifiers.transformer import UNINFORMATIVE

    assert UNINFORMATIVE == ENGLISH_STOP_WORDS


def test_scikit_learns_estimator_contract_holds_without_its_base_class(trained):
    # Parameters survive pickling, unknown ones are refused, and scikit-learn's tools still see a classifier.
    import pickle

    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    model, texts, _ = trained
    copy = pickle.loads(pickle.dumps(model))
    assert copy.get_params() == model.get_params() and "base=" in repr(copy)
    np.testing.assert_allclose(copy.predict_proba(texts[:2]), model.predict_proba(texts[:2]), atol=1e-4)
    with pytest.raises(ValueError, match="invalid parameter 'colour'"):
        copy.set_params(colour="red")
    assert is_classifier(copy)
    check_is_fitted(copy)
    with pytest.raises(NotFittedError):
        check_is_fitted(TransformerClassifier())


def test_a_saved_model_predicts_on_torch_without_importing_transformers(trained, tmp_path):
    # What makes `clinnlp classify` start faster on a CPU with AMX: once the adapters are merged (first use),
    # a process reads with the plain-torch BERT encoder and the saved fast tokenizer, never importing transformers
    # (nor torch's compiler stack, which building modules on the meta device imports: 2-4 s).
    model, texts, _ = trained
    expected = clone_fitted(model, runtime="torch", precision="fp32").predict_proba(texts[:5])
    runs = predict_in_fresh_processes(clone_fitted(model, runtime="torch", precision="fp32"), texts[:5], tmp_path)
    assert runs[0]["transformers"]  # the first process merged the adapters with PEFT and cached them
    assert list((tmp_path / "cache").glob("encoder-*.merged.safetensors"))
    assert list((tmp_path / "cache").glob("encoder-*.tokenizer.json"))
    assert runs[1]["transformers"] is False
    assert runs[1]["compiler"] is False
    for run in runs:
        np.testing.assert_allclose(run["proba"], expected, atol=1e-5)


@pytest.mark.parametrize("method, precision", [("frozen", "fp32"), ("finetune", "fp32"), ("frozen", "bf16")])
def test_the_plain_torch_encoder_reads_as_transformers_does(tiny_base, single_label_data, method, precision):
    # Frozen models read the base's own weights file; fine-tuned ones overlay their stored encoder weights on it.
    # bfloat16 autocast (the default on CPUs that have it) rounds each side's operations in its own order.
    texts, labels = single_label_data
    model = tiny(tiny_base, method=method, epochs=1, runtime="torch", precision=precision).fit(texts, labels)
    fresh = clone_fitted(model)
    light = fresh.predict_proba(texts[:8])
    assert fresh._light, "the plain-torch encoder was not used"
    with_transformers = clone_fitted(model)
    with_transformers._components()  # transformers' module, loaded first, is the one that reads
    tolerance = 1e-5 if precision == "fp32" else 2e-2
    np.testing.assert_allclose(light, with_transformers.predict_proba(texts[:8]), atol=tolerance)


@pytest.mark.parametrize("damaged", ["merged.safetensors", "tokenizer.json"])
def test_a_damaged_cache_file_is_made_again(trained, tmp_path, monkeypatch, damaged):
    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(tmp_path))
    model, texts, _ = trained
    expected = clone_fitted(model, runtime="torch", precision="fp32").predict_proba(texts[:4])
    (cached,) = tmp_path.glob(f"encoder-*.{damaged}")
    cached.write_bytes(b"damaged")
    fresh = clone_fitted(model, runtime="torch", precision="fp32")
    np.testing.assert_allclose(fresh.predict_proba(texts[:4]), expected, atol=1e-5)
    # Unreadable weights: transformers' module reads (and merges again); a tokenizer is simply made again.
    assert bool(fresh._light) == (damaged == "tokenizer.json")
    assert cached.stat().st_size > 1000


def test_merged_adapters_are_cached_and_give_the_same_probabilities(trained, tmp_path, monkeypatch):
    import peft

    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(tmp_path))
    model, texts, _ = trained

    first = clone_fitted(model, runtime="torch").predict_proba(texts)
    (cached,) = tmp_path.glob("encoder-*.merged.safetensors")
    # The next start loads the merged weights and never calls PEFT.
    monkeypatch.setattr(peft, "set_peft_model_state_dict", lambda *a, **k: pytest.fail("merged again"))
    np.testing.assert_allclose(clone_fitted(model, runtime="torch").predict_proba(texts), first, atol=1e-6)
    # A damaged cache is ignored, merged again and rewritten.
    monkeypatch.undo()
    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(tmp_path))
    cached.write_bytes(cached.read_bytes()[:1000])
    np.testing.assert_allclose(clone_fitted(model, runtime="torch").predict_proba(texts), first, atol=1e-6)
    assert cached.stat().st_size > 1000


def test_a_cache_folder_others_can_write_is_not_used(trained, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(shared))
    model, texts, _ = trained
    expected = clone_fitted(model, runtime="torch", precision="fp32").predict_proba(texts)
    for runtime in ("torch", "onnx"):
        got = clone_fitted(model, runtime=runtime, precision="fp32").predict_proba(texts)
        np.testing.assert_allclose(got, expected, atol=1e-4)
    assert list(shared.iterdir()) == []


def test_an_unwritable_cache_costs_only_time(trained, tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(blocked / "cache"))
    model, texts, _ = trained
    expected = clone_fitted(model, runtime="torch", precision="fp32").predict_proba(texts)
    for runtime in ("torch", "onnx"):
        got = clone_fitted(model, runtime=runtime, precision="fp32").predict_proba(texts)
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_explanations_point_at_words_in_the_text(trained):
    model, texts, _ = trained
    X = model.transform(texts[:3])
    picks = model.decide(model.predict_proba_features(X))
    explanations = model.explain(texts[:3], X, picks, top_k=5)
    for text, items, pick in zip(texts, explanations, picks):
        assert items and len(items) <= 5
        for item in items:
            assert item["label"] == str(model.classes_[pick[0]]) and item["weight"] > 0
            for start, end in item["spans"]:
                assert text[start:end].lower() == item["term"]


@pytest.mark.parametrize("attribution", ["pooled", "gradient"])
def test_batched_explanations_equal_one_document_at_a_time(trained, attribution):
    # Mixed lengths (one document of many windows), several batches (a small token budget), and a varying
    # number of explained labels per document (as multi-label models have): explaining the batch (one backward
    # pass per rank, or the shares read off one forward pass) must give every document what it gets alone.
    model, texts, _ = trained
    chosen = [texts[0], " ".join(texts[1:9]), texts[9], texts[10] + " " + texts[11]]
    picks = [[0], [1, 2], [2, 0, 1], []]
    budget = model.max_batch_tokens
    model = clone_fitted(model, attribution=attribution)
    try:
        model.max_batch_tokens = 96
        together = model.explain(chosen, model.transform(chosen, explain=True), picks, top_k=1000)
    finally:
        model.max_batch_tokens = budget
    alone = [model.explain([text], None, [pick], top_k=1000)[0] for text, pick in zip(chosen, picks)]
    assert together[3] == [] and all(together[:3])
    for batched, single in zip(together, alone):
        # every positive term, keyed by label and term (the order of near-ties may differ on another CPU)
        batched = {(item["label"], item["term"]): item for item in batched}
        single = {(item["label"], item["term"]): item for item in single}
        for key in batched.keys() | single.keys():
            if max(batched.get(key, {}).get("weight", 0), single.get(key, {}).get("weight", 0)) < 1e-3:
                continue
            assert key in batched and key in single, key
            assert batched[key]["spans"] == single[key]["spans"]
            assert batched[key]["weight"] == pytest.approx(single[key]["weight"], rel=1e-3, abs=1e-4)


def clone_fitted(model, **params):
    copy = TransformerClassifier(**{**model.get_params(), **params})
    copy.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    return copy


def test_pooled_shares_add_up_to_the_logit(trained):
    # The explanation of the default attribution is exact: every token's share of a class's (centred) logit,
    # summed over the document, is the logit the head computes from the document vector.
    model, texts, _ = trained
    chosen = [texts[0], " ".join(texts[1:9])]  # the second has several windows
    X = model.transform(chosen, explain=True)
    assert len({int(d) for d in X.windows.document}) == 2 and len(X.windows) > 2
    head = model._attribution_head()
    for index in range(2):
        rows = np.flatnonzero(X.windows.document == index)
        shares = sum(X.token_logits[row].sum(axis=0) for row in rows) / X.token_counts[index]
        np.testing.assert_allclose(shares, np.asarray(X[index]) @ head, rtol=1e-4, atol=1e-5)
    centred = model.head_weight_ - model.head_weight_.mean(axis=0)
    np.testing.assert_allclose(head.T, centred, rtol=1e-6)


def test_pooled_explanations_reuse_the_forward_pass(trained, monkeypatch):
    model, texts, _ = trained
    X = model.transform(texts[:3], explain=True)
    picks = model.decide(model.predict_proba_features(X))
    fresh = model.explain(texts[:3], None, picks)
    other = model.explain(texts[3:6], None, picks)
    assert model.explain(texts[3:6], X, picks) == other  # features of other texts are not used for these
    monkeypatch.setattr(model, "_document_vectors", lambda *a: pytest.fail("ran the encoder again"))
    assert model.explain(texts[:3], X, picks) == fresh


def test_only_features_for_explaining_keep_token_state(trained):
    model, texts, _ = trained
    plain = model.transform(texts[:3])
    assert plain.token_logits is None and plain.windows is None  # predictions alone keep nothing per token
    np.testing.assert_allclose(plain, model.transform(texts[:3], explain=True), rtol=1e-6)


def test_document_vectors_slices_and_pickles_carry_no_token_state(trained):
    import pickle

    model, texts, _ = trained
    X = model.transform(texts[:3], explain=True)
    assert X.token_logits is not None
    assert X[1:].token_logits is None and (X * 2).token_logits is None
    copy = pickle.loads(pickle.dumps(X))
    assert type(copy) is np.ndarray and np.array_equal(copy, X)


def test_models_saved_before_attributions_explain_with_the_default(trained, tmp_path):
    import joblib

    model, texts, _ = trained
    old = clone_fitted(model)
    del old.__dict__["attribution"]
    joblib.dump(old, tmp_path / "old.joblib")
    loaded = joblib.load(tmp_path / "old.joblib")
    assert loaded.attribution == "pooled"
    with pytest.raises(ValueError, match="attribution"):
        clone_fitted(model, attribution="saliency").explain(texts[:1], None, [[0]])


def test_multi_label_and_frozen_method(tiny_base, multi_label_data):
    texts, labels = multi_label_data
    model = tiny(tiny_base, method="frozen", multi_label=True).fit(texts, labels)
    proba = model.predict_proba(texts)
    assert proba.shape == (len(texts), 3) and ((proba >= 0) & (proba <= 1)).all()
    assert model.adapter_ is None and model.encoder_state_ is None
    assert all(len(row) >= 1 for row in model.predict(texts))
    # Nothing of scikit-learn's is kept, so the saved model loads without importing it.
    assert not [name for name, value in model.__getstate__().items() if type(value).__module__.startswith("sklearn")]


def test_ensemble_chooses_its_weight_and_temperature_on_out_of_fold_predictions(tiny_base, single_label_data):
    from nlp.classifiers.vector_cache import remembering

    texts, labels = single_label_data
    ensemble = EnsembleClassifier(tfidf_params={"min_df": 1, "max_df": 1.0}, folds=3,
                                  transformer_params={"base": tiny_base, "max_length": 32, "stride": 8,
                                                      "method": "frozen", "n_jobs": 1})
    with remembering(None):
        ensemble.fit(texts, labels)
    assert 0.0 <= ensemble.weight_ <= 1.0 and len(ensemble.oof_log_loss_) == 11 and ensemble.temperature_ > 0
    assert ensemble.oof_log_loss_[str(ensemble.weight_)] == min(ensemble.oof_log_loss_.values())
    proba = ensemble.predict_proba(texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    features = ensemble.transform(texts[:2])
    items = ensemble.explain(texts[:2], features, ensemble.decide(ensemble.predict_proba_features(features)))[0]
    assert {item["source"] for item in items} <= {"tfidf", "transformer"} and items
    assert get_classifier_type("ensemble").cls is EnsembleClassifier


def test_a_trained_ensembles_card_names_its_members_encoder(tiny_base, single_label_data, tmp_path):
    from nlp.model_store import load_model
    from nlp.training import TrainingData, train

    texts, labels = single_label_data
    data = TrainingData([str(i) for i in range(len(texts))], texts, labels, False, {"file": "notes.csv"})
    out = train(data, "ensemble", tmp_path / "ens", dev_fraction=0.25, fixed={
        "combine": "features", "folds": 3, "tfidf_params": {"min_df": 1, "max_df": 1.0},
        "transformer_params": {"base": tiny_base, "max_length": 32, "stride": 8, "method": "frozen"}})
    model = load_model(out, trusted=True)
    assert model.meta["base"] == tiny_base and model.meta["base_sha256"] == model.estimator.transformer_.base_sha256_
    card = (out / "README.md").read_text()
    assert card.startswith("# ens") and "An ensemble.v1 classifier" in card
    assert f"a transformer on `{tiny_base}`" in card and "one linear model over TF-IDF terms" in card


@pytest.mark.parametrize("combine", ["average", "features"])
def test_an_ensemble_learns_a_label_too_rare_for_every_fold_to_see(tiny_base, multi_label_data, combine):
    # One note has a label no other note has: the fold that holds it out fits members without that label.
    texts, labels = multi_label_data
    texts, labels = list(texts) + ["a rare syndrome of the pineal gland"], list(labels) + [["endocrinology"]]
    ensemble = EnsembleClassifier(multi_label=True, combine=combine, tfidf_params={"min_df": 1, "max_df": 1.0},
                                  folds=3, transformer_params={"base": tiny_base, "max_length": 32, "stride": 8,
                                                               "method": "frozen", "n_jobs": 1}).fit(texts, labels)
    assert "endocrinology" in list(ensemble.classes_)
    assert ensemble.predict_proba(texts[-2:]).shape == (2, len(ensemble.classes_))


@pytest.mark.parametrize("multi_label", [False, True])
def test_an_ensemble_of_joint_features_holds_the_joint_weights_in_its_transformer_head(tiny_base, multi_label,
                                                                                        single_label_data,
                                                                                        multi_label_data):
    from nlp.classifiers.ensemble import VECTOR_WEIGHTS
    from nlp.classifiers.tfidf import TfidfClassifier
    from nlp.classifiers.vector_cache import remembering

    texts, labels = multi_label_data if multi_label else single_label_data
    ensemble = EnsembleClassifier(multi_label=multi_label, combine="features", folds=3,
                                  tfidf_params={"min_df": 1, "max_df": 1.0},
                                  transformer_params={"base": tiny_base, "max_length": 32, "stride": 8,
                                                      "method": "frozen", "n_jobs": 1})
    with remembering(None):
        ensemble.fit(texts, labels)
    assert ensemble.weight_ in VECTOR_WEIGHTS and len(ensemble.oof_log_loss_) == len(VECTOR_WEIGHTS)
    assert ensemble.oof_log_loss_[str(ensemble.weight_)] == min(ensemble.oof_log_loss_.values())
    terms, vectors = ensemble.transform(texts)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(vectors), axis=1), 1.0, atol=1e-5)
    proba = ensemble.predict_proba_features((terms, vectors))
    assert proba.shape == (len(texts), len(ensemble.classes_)) and ((proba >= 0) & (proba <= 1)).all()
    if not multi_label:
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    # The joint linear model's margin from the vectors is what the transformer member's head gives them: so its
    # token shares are the vectors' exact part of the margin, beside the TF-IDF terms' part.
    weights = ensemble.tfidf_._weight_matrix()
    joint = TfidfClassifier.with_vectors(terms, ensemble.weight_ * np.asarray(vectors)).toarray() @ weights.T
    from_terms = terms.toarray() @ weights[:, :terms.shape[1]].T
    np.testing.assert_allclose(joint - from_terms, np.asarray(vectors) @ ensemble.transformer_.head_weight_.T,
                               atol=1e-4)
    explained = ensemble.transform(texts[:2], explain=True)
    np.testing.assert_allclose(ensemble.predict_proba_features(explained), proba[:2], atol=1e-5)
    items = ensemble.explain(texts[:2], explained, ensemble.decide(proba[:2]))
    assert all(items) and {item["source"] for row in items for item in row} <= {"tfidf", "transformer"}


def test_a_model_saved_before_balanced_windows_reads_fixed_windows(tiny_base, single_label_data):
    import pickle

    texts, labels = single_label_data
    model = tiny(tiny_base, method="frozen").fit(texts, labels)
    assert model.balance_windows
    old = pickle.loads(pickle.dumps(model))
    del old.__dict__["balance_windows"]
    old = pickle.loads(pickle.dumps(old))
    assert old.balance_windows is False
    long_text = [" ".join(texts[:6])]
    tokenizer = model._components()[0]
    balanced, fixed = model._windows(tokenizer, long_text), old._windows(tokenizer, long_text)
    assert len({len(ids) for ids in balanced.input_ids}) == 1  # one length
    assert sum(map(len, balanced.input_ids)) < sum(map(len, fixed.input_ids))
    assert balanced.covered(0)[-1][1] == fixed.covered(0)[-1][1] == len(long_text[0])  # both read to the end
    assert old._vector_space("e", "fp32") == "e windows 32/8 fp32"  # vectors remembered before stay valid
    assert model._vector_space("e", "fp32") == "e windows 32/8 balanced fp32"


def test_an_ensemble_takes_a_named_transformers_setting_with_its_own_overrides(trained, tmp_path):
    model, _, _ = trained
    save_model(model, tmp_path / "t", {"name": "t", "version": "0", "task": "single_label",
                                       "model_type": "transformer", "labels": []}, "card")
    named = EnsembleClassifier(transformer=str(tmp_path / "t"))._transformer_params()
    assert named["method"] == "lora" and named["max_length"] == 32 and named["balance_windows"] is True
    pinned = EnsembleClassifier(transformer=str(tmp_path / "t"), transformer_params={"balance_windows": False})
    assert pinned._transformer_params() == {**named, "balance_windows": False}
    assert EnsembleClassifier(transformer_params={"C": 3.0})._transformer_params() == {"C": 3.0}


def test_an_ensemble_saved_before_joint_features_averages(tiny_base, single_label_data):
    import pickle

    texts, labels = single_label_data
    ensemble = EnsembleClassifier(tfidf_params={"min_df": 1, "max_df": 1.0}, folds=2,
                                  transformer_params={"base": tiny_base, "max_length": 32, "stride": 8,
                                                      "method": "frozen", "n_jobs": 1}).fit(texts, labels)
    old = pickle.loads(pickle.dumps(ensemble))
    for name in ("combine", "vector_weight"):
        del old.__dict__[name]
    del old.tfidf_.__dict__["vector_columns_"]
    old = pickle.loads(pickle.dumps(old))
    assert old.combine == "average" and old.tfidf_.vector_columns_ == 0
    np.testing.assert_allclose(old.predict_proba(texts), ensemble.predict_proba(texts), atol=1e-9)


@pytest.mark.parametrize("multi_label", [False, True])
def test_the_ensembles_temperature_undoes_over_and_under_confidence(multi_label):
    # Members that are right 70% of the time but say 0.97 (over-confident) need a temperature above 1; members
    # that are right 97% of the time but say 0.6 (under-confident) one below 1.
    rng = np.random.default_rng(0)
    n = 2000
    for accuracy, said, above_one in ((0.7, 0.97, True), (0.97, 0.6, False)):
        Y = (rng.random(n) < 0.5).astype(int)
        right = rng.random(n) < accuracy
        guess = np.where(right, Y, 1 - Y)
        proba = np.where(guess[:, None] == np.arange(2)[None, :], said, 1 - said)
        ensemble = EnsembleClassifier(multi_label=multi_label, tfidf_weight=0.5)
        targets = np.eye(2)[Y] if multi_label else Y
        ensemble._choose_weight({0.5: proba}, targets)
        assert (ensemble.temperature_ > 1.2) if above_one else (ensemble.temperature_ < 0.8)


def test_models_saved_before_the_ensemble_temperature_average_as_before(tiny_base, single_label_data):
    import pickle

    texts, labels = single_label_data
    ensemble = EnsembleClassifier(tfidf_params={"min_df": 1, "max_df": 1.0}, folds=2,
                                  transformer_params={"base": tiny_base, "max_length": 32, "stride": 8,
                                                      "method": "frozen", "n_jobs": 1}).fit(texts, labels)
    features = ensemble.transform(texts)
    old = pickle.loads(pickle.dumps(ensemble))
    del old.__dict__["temperature_"]
    old = pickle.loads(pickle.dumps(old))
    average = (old.weight_ * old.tfidf_.predict_proba_features(features[0])
               + (1 - old.weight_) * old.transformer_.predict_proba_features(features[1]))
    np.testing.assert_allclose(old.predict_proba_features(features), average / average.sum(axis=1, keepdims=True),
                               atol=1e-9)


def test_training_reads_each_text_through_the_encoder_once(tiny_base, single_label_data, tmp_path, monkeypatch):
    # Cross-validation refits a frozen-encoder model on the same texts many times: while training remembers, each
    # text is encoded once, and the next process finds the vectors on disk (hashes and numbers, no text).
    from nlp.classifiers.vector_cache import remembering

    texts, labels = single_label_data
    encoded = []
    original = TransformerClassifier._document_vectors

    def counting(self, encoder, windows, *args, **kwargs):
        encoded.append(windows.n_documents)
        return original(self, encoder, windows, *args, **kwargs)

    monkeypatch.setattr(TransformerClassifier, "_document_vectors", counting)
    plain = tiny(tiny_base, method="frozen", normalize=True).fit(texts, labels)
    expected = plain.predict_proba(texts)
    encoded.clear()
    with remembering(tmp_path):
        first = tiny(tiny_base, method="frozen", normalize=True).fit(texts, labels)
        first.predict_proba(texts[:5])
        tiny(tiny_base, method="frozen", normalize=True, C=1.0).fit(texts[::2], labels[::2])
    assert sum(encoded) == len(set(texts))
    np.testing.assert_allclose(first.predict_proba(texts), expected, atol=1e-4)  # outside the block: encoded
    encoded.clear()
    with remembering(tmp_path):  # another process, the same folder
        tiny(tiny_base, method="frozen", normalize=True).fit(texts, labels)
    assert encoded == []
    (stored,) = tmp_path.glob("vectors-*.npz")
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    assert texts[0].split()[0].encode() not in stored.read_bytes()
    with remembering(tmp_path):  # vectors of the base are not those of a fine-tuned encoder
        lora = tiny(tiny_base, epochs=1).fit(texts, labels)
        encoded.clear()
        remembered = lora.predict_proba(texts)
    assert sum(encoded) > 0  # those its calibration slice did not read yet
    np.testing.assert_allclose(remembered, lora.predict_proba(texts), atol=1e-4)


def test_training_reads_on_torch_where_prediction_runs_on_onnx_runtime(tiny_base, single_label_data, tmp_path,
                                                                       monkeypatch):
    # Cross-validation predicts with fitted fold models while training remembers vectors. Where `auto` predicts on
    # ONNX Runtime (a CPU without AMX, forced here), those reads still run on torch at the training precision, as
    # `fit` does, so the cache never holds ONNX Runtime's vectors under torch's label, nor reads a text twice.
    from nlp.classifiers import transformer
    from nlp.classifiers.vector_cache import remembering

    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(transformer, "amx_supported", lambda: False)
    texts, labels = single_label_data
    encoded = []
    original = TransformerClassifier._document_vectors

    def counting(self, encoder, windows, *args, **kwargs):
        assert encoder is not None, "read on ONNX Runtime while training"
        encoded.append(windows.n_documents)
        return original(self, encoder, windows, *args, **kwargs)

    monkeypatch.setattr(TransformerClassifier, "_document_vectors", counting)
    unseen = texts[1::2][:5]
    with remembering(tmp_path):
        model = tiny(tiny_base, method="frozen", normalize=True, C=1.0).fit(texts[::2], labels[::2])
        assert model.inference_runtime()[0] == "onnx"
        encoded.clear()
        model.predict_proba(unseen)  # texts fit never read: read now, on torch
        assert sum(encoded) == len(set(unseen))
        model.predict_proba(unseen)  # and remembered
    assert sum(encoded) == len(set(unseen))


def test_fine_tuning_with_unit_vectors_trains_the_head_on_what_it_reads_at_inference(tiny_base, single_label_data):
    # The head starts from a probe fitted on unit vectors and predicts from unit vectors: the vectors it trains on
    # in between (and gradient explanations differentiate) are unit vectors too, equal to inference's.
    import torch

    texts, labels = single_label_data
    model = tiny(tiny_base, normalize=True, epochs=1).fit(texts, labels)
    tokenizer, encoder = model._components()
    windows = model._windows(tokenizer, texts[:3])
    with torch.no_grad():
        pooled = model._pool(encoder, windows, list(range(len(windows))), windows.document, 3).numpy()
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pooled, np.asarray(model.transform(texts[:3])), atol=1e-4)


def test_unit_vectors_keep_the_pooled_shares_exact(tiny_base, single_label_data):
    texts, labels = single_label_data
    model = tiny(tiny_base, method="frozen", normalize=True).fit(texts, labels)
    X = model.transform([texts[0], " ".join(texts[1:9])], explain=True)  # the second has several windows
    np.testing.assert_allclose(np.linalg.norm(np.asarray(X), axis=1), 1.0, atol=1e-5)
    head = model._attribution_head()
    for index in range(2):
        rows = np.flatnonzero(X.windows.document == index)
        shares = sum(X.token_logits[row].sum(axis=0) for row in rows) / X.token_counts[index]
        np.testing.assert_allclose(shares, np.asarray(X[index], dtype=np.float64) @ head, atol=1e-4)


def test_cli_trains_and_classifies_with_a_transformer(tmp_path, tiny_base, labelled_csv):
    from nlp.cli import main

    out = tmp_path / "model"
    assert main(["train", "--train-file", str(labelled_csv), "--text-column", "note", "--label-column",
                 "specialty", "--model", "transformer", "--out", str(out), "--param", f"base={tiny_base}",
                 "--param", "max_length=32", "--param", "stride=8", "--cv", "3"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["model_type"] == "transformer.v1" and meta["training"]["fitted_on"] == "all"
    assert meta["params"]["method"] == "frozen" and len(meta["tuning"]) == 10  # unit vectors or not, five Cs
    assert meta["params"]["max_length"] == 32 and "cores" in meta["training"]["machine"]
    notes = tmp_path / "notes.jsonl"
    notes.write_text(json.dumps({"id": "a", "text": "troponin angina stent murmur"}) + "\n"
                     + json.dumps({"id": "b", "text": "knee fracture cast splint " * 2000}) + "\n")
    assert main(["classify", str(notes), "-o", str(tmp_path / "out.jsonl"), "--model", str(out), "--trust"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == ["a", "b"]
    assert rows[0]["label"] in {"cardiology", "orthopedics", "gastroenterology"} and "explanation" in rows[0]


def test_cli_runtime_options(tmp_path, tiny_base, trained, monkeypatch):
    from nlp.cli import main

    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(tmp_path / "cache"))
    model, texts, _ = trained
    save_model(model, tmp_path / "m", {"name": "m", "version": "0", "task": "single_label",
                                       "model_type": "transformer", "labels": []}, "card")
    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts[:4])))
    outputs = {}
    for runtime in ("torch", "onnx"):
        out = tmp_path / f"{runtime}.jsonl"
        assert main(["classify", str(notes), "-o", str(out), "--model", str(tmp_path / "m"), "--trust", "--runtime", runtime,
                     "--precision", "fp32", "--no-explain", "--no-progress"]) == 0
        outputs[runtime] = [json.loads(line)["label"] for line in out.read_text().splitlines()]
    assert outputs["torch"] == outputs["onnx"]
    assert list((tmp_path / "cache").glob("encoder-*.fp32.onnx"))
    # A later command with runtime options, in a fresh process, imports no scikit-learn (checking the options
    # looks the model's type up without importing the other types).
    import os
    import subprocess
    import sys

    script = ("import sys; from nlp.cli import main; code = main(sys.argv[1:]); "
              "print('sklearn' in sys.modules); sys.exit(code)")
    command = ["classify", str(notes), "-o", str(tmp_path / "again.jsonl"), "--model", str(tmp_path / "m"), "--trust",
               "--runtime", "onnx", "--precision", "fp32", "--no-progress"]
    run = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True, check=True,
                         env={**os.environ, "CLINNLP_CACHE_DIR": str(tmp_path / "cache")})
    assert run.stdout.split()[-1] == "False"


def test_service_serves_a_transformer_model_with_explanations(tmp_path, trained, monkeypatch):
    from service.app import create_app
    from service.registry import Registry

    model, texts, _ = trained
    monkeypatch.setenv("CLINNLP_MODELS_DIR", str(tmp_path / "models"))  # the operator's models folder
    save_model(model, tmp_path / "models" / "tiny-transformer",
               {"name": "tiny-transformer", "version": "0", "task": "single_label", "model_type": "transformer",
                "labels": [{"id": str(c), "name": str(c)} for c in model.classes_]}, "card")
    registry = Registry.load(("tiny-transformer",), ())
    app = create_app({"state_dir": str(tmp_path / "state")}, registry=registry)
    try:
        key = app.extensions["clinnlp"].keys.create("tests")[1]
        client = app.test_client()
        response = client.post("/v1/classify", headers={"Authorization": f"Bearer {key}"},
                               json={"model": "tiny-transformer", "documents": [{"id": "1", "text": texts[0]}]})
        assert response.status_code == 200
        [result] = response.get_json()["results"]
        assert result["label"] in {str(c) for c in model.classes_}
        assert result["explanation"] and all(texts[0][s:e].lower() == item["term"]
                                             for item in result["explanation"] for s, e in item["spans"])
    finally:
        app.extensions["clinnlp"].jobs.stop()


def test_onnx_batches_hold_a_fixed_number_of_padded_tokens_per_thread(monkeypatch):
    """A service worker with one thread runs half the tokens a batch that a two-thread command does, and no
    batch passes max_batch_tokens."""
    from nlp import parallel
    from nlp.classifiers import transformer

    per_thread = transformer.ONNX_BATCH_TOKENS_PER_THREAD
    assert TransformerClassifier(n_jobs=1)._onnx_batch_tokens() == per_thread
    assert TransformerClassifier(n_jobs=2)._onnx_batch_tokens() == 2 * per_thread
    assert TransformerClassifier(n_jobs=64, max_batch_tokens=4096)._onnx_batch_tokens() == 4096
    monkeypatch.setattr(parallel, "_inference_threads", 1)  # what the service sets: CPUs / workers
    assert TransformerClassifier()._onnx_batch_tokens() == per_thread
    monkeypatch.setattr(parallel, "_inference_threads", 0)  # nothing set: ONNX Runtime's default, one per CPU
    monkeypatch.setattr(parallel, "available_cpus", lambda: 3)
    assert TransformerClassifier()._onnx_batch_tokens() == 3 * per_thread
