"""Document vectors of training texts, remembered while a model trains, so that cross-validation reads each text
through the encoder once instead of once per fold and per setting.

Training a frozen-encoder model is a logistic regression on the encoder's document vectors; choosing its setting
by 5-fold cross-validation refits it many times on the same texts. Reading them all through the encoder is what
costs (minutes per thousand documents on a CPU), so :func:`remembering` keeps each document's vector by the
encoder that made it (its fingerprint and window settings) and the sha256 of its text, and stores them in the
private cache folder (:func:`nlp.files.cache_dir`) so that the next training command on the same data (an ensemble
after its transformer member) finds them too. Nothing here is active outside a ``with remembering():`` block: the
service and ``classify`` never cache vectors of what they read. The files hold vectors and hashes, no text.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from nlp.files import atomic_path, cache_dir

log = logging.getLogger(__name__)

CHUNK = 256  # texts encoded between two saves: an interrupted run loses at most this much work

_ACTIVE: contextvars.ContextVar["VectorCache | None"] = contextvars.ContextVar("clinnlp_vector_cache", default=None)


class VectorCache:
    """Vectors by encoder ``space`` (a name for the encoder and its window settings) and text hash.

    Args:
        directory: Where to keep them between processes; ``None`` keeps them in memory only.
    """

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._spaces: dict[str, dict[bytes, np.ndarray]] = {}

    def vectors(self, space: str, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The vector of each text in ``space``: remembered ones as they are, the others from ``encode`` (a list of
        texts in, one row per text out), in chunks saved as they come."""
        known = self._space(space)
        keys = [hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest() for text in texts]
        missing = list(dict.fromkeys(key for key in keys if key not in known))
        if missing:
            first = {}
            for key, text in zip(keys, texts):
                first.setdefault(key, text)
            log.info("encoding %d of %d documents (the others are remembered)", len(missing), len(texts))
            for begin in range(0, len(missing), CHUNK):
                chunk = missing[begin:begin + CHUNK]
                for key, vector in zip(chunk, np.asarray(encode([first[key] for key in chunk]), dtype=np.float32)):
                    known[key] = vector
                self._save(space)
                log.info("encoded %d/%d documents", min(begin + CHUNK, len(missing)), len(missing))
        return np.stack([known[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def _path(self, space: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"vectors-{hashlib.sha256(space.encode()).hexdigest()[:24]}.npz"

    def _space(self, space: str) -> dict[bytes, np.ndarray]:
        if space not in self._spaces:
            self._spaces[space] = {}
            path = self._path(space)
            if path is not None and path.is_file():
                try:
                    with np.load(path, allow_pickle=False) as stored:
                        if str(stored["space"]) == space:
                            # (ljust: files of the first version stored hashes as numpy bytes, which drop
                            # trailing zero bytes)
                            self._spaces[space] = {row.tobytes().ljust(32, b"\0"): vector
                                                   for row, vector in zip(stored["keys"], stored["vectors"])}
                except Exception as error:  # truncated or from another version: encode again
                    log.warning("ignoring the remembered vectors %s (%s)", path.name, type(error).__name__)
        return self._spaces[space]

    def _save(self, space: str) -> None:
        path = self._path(space)
        if path is None:
            return
        known = self._spaces[space]
        try:
            with atomic_path(path) as partial:
                with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
                    # Hashes as rows of raw bytes: numpy's fixed-width bytes type would drop a trailing zero byte.
                    np.savez(file, space=np.array(space),
                             keys=np.frombuffer(b"".join(known), dtype=np.uint8).reshape(-1, 32),
                             vectors=np.stack(list(known.values())))
        except OSError as error:  # a full or read-only cache folder: the vectors stay in memory
            log.info("not storing the training vectors (%s)", type(error).__name__)


@contextlib.contextmanager
def remembering(directory: Path | None | bool = True) -> Iterator[VectorCache]:
    """Within the block, models that support it remember their training texts' vectors (see the module docstring).

    Args:
        directory: A folder, ``None`` for memory only, or ``True`` for :func:`nlp.files.cache_dir`.
    """
    cache = VectorCache(cache_dir() if directory is True else directory)
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)


def active() -> VectorCache | None:
    """The cache of the enclosing :func:`remembering` block, if any."""
    return _ACTIVE.get()
