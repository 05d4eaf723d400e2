"""The sentence encoder: the packaged MiniLM on ONNX Runtime gives sentence-transformers' vectors."""

import subprocess
import sys

import numpy as np
import pytest

from nlp.embeddings import SentenceEncoder

SENTENCES = [
    "The patient denies chest pain or shortness of breath.",
    "",
    "  Élevated  troponin; café-au-lait spots, 3.5 mg/dL  ",
    "word " * 200,  # cut at max_tokens, as sentence-transformers cuts it
    "Pneumonia is likely.",
    "No pleural effusion.",
]


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("onnxruntime")
    return SentenceEncoder(max_tokens=32, batch_size=4)


def test_onnx_runtime_gives_the_vectors_sentence_transformers_gives(encoder):
    assert encoder.onnx is not None
    vectors = encoder.encode(SENTENCES)
    reference = encoder.transformer.encode(SENTENCES, batch_size=4, normalize_embeddings=True, convert_to_numpy=True,
                                           show_progress_bar=False)
    assert vectors.shape == reference.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_encoders_in_one_process_share_one_session(encoder):
    other = SentenceEncoder(max_tokens=64)
    assert other.onnx.session is encoder.onnx.session and other.onnx.max_tokens == 64


def test_once_exported_the_encoder_runs_without_importing_torch(encoder):
    encoder.encode(["warm"])  # the export is in this run's cache folder (the private_cache fixture)
    code = ("import sys; from nlp.embeddings import SentenceEncoder; v = SentenceEncoder().encode(['chest pain']); "
            "assert v.shape == (1, 384); assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_damaged_export_in_the_cache_is_made_again(encoder, tmp_path):
    from nlp.embeddings import OnnxSentenceModel

    OnnxSentenceModel._open_in(tmp_path, 1)
    (export,) = tmp_path.glob("sentences-*.fp32.onnx")
    export.write_bytes(b"not an ONNX graph")
    tokenizer, session = OnnxSentenceModel._open_in(tmp_path, 1)
    assert session.get_outputs()[0].name == "hidden" and export.stat().st_size > 1_000_000


def test_max_tokens_outside_the_encoders_positions_is_refused():
    for bad in (2, 513):
        with pytest.raises(ValueError, match="max_tokens"):
            SentenceEncoder(max_tokens=bad)
