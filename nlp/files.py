"""Writing files so that a reader never sees half of one: the one atomic-write helper of the project."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
