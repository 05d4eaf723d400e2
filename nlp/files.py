"""Writing files so that a reader never sees half of one (the one atomic-write helper of the project), and the
private folder where derived files are cached."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` in one step when the block ends, and
    is removed if the block fails, so ``path`` is always either the old file or the whole new one."""
    path = Path(path)
    # Unique per process and thread: two writers of one path never share a partial file.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as partial:
        partial.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def cache_dir() -> Path | None:
    """Where derived encoders are cached (merged adapters, ONNX exports): ``$CLINNLP_CACHE_DIR``, else
    ``~/.cache/clinnlp``, made private to the user when it does not exist yet. ``None`` when it cannot be made, or
    belongs to another user or is writable by others: whoever can write there could swap the weights a model
    predicts with (safetensors and ONNX files run no code, but they decide every label)."""
    try:
        directory = Path(os.environ.get("CLINNLP_CACHE_DIR") or Path.home() / ".cache" / "clinnlp")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home folder to be found
        return None
    if hasattr(os, "geteuid") and (info.st_uid != os.geteuid() or info.st_mode & 0o022):
        log.warning("not using the cache folder %s: it must belong to this user and be writable by no one else",
                    directory)
        return None
    return directory
