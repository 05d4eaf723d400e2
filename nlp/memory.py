"""Give freed native memory back to the operating system, periodically, in long-running processes.

glibc's ``malloc`` keeps what torch, tokenizers, spaCy and numpy free in its heaps (one per thread arena) and
hands pages back to the system only from the top of a heap. A server whose threads allocate and free buffers of
many sizes therefore keeps growing by free fragments it rarely reuses: under the soak mix the service's workers
grew about 150 MiB each in ten minutes while Python's own objects (``tracemalloc``) stayed within 16 MiB.
``malloc_trim(0)`` releases the free pages of every arena; called every few seconds it keeps the resident size
at what is in use. Elsewhere (musl, macOS, a process without glibc) it does nothing.

Trimming slows the growth but cannot undo fragmentation inside pages still partly in use: an hour of the soak mix
still grew a few percent per 20 minutes. The service therefore allocates with mimalloc (Microsoft's allocator,
from the pinned ``cmeel-mimalloc`` package), which returns freed memory on its own and stayed flat under the same
mix, a little faster than glibc (docs/benchmarks.md). An allocator must be in place before a process allocates
anything, so :func:`preloading_mimalloc` gives the environment that starts a new process with it
(``LD_PRELOAD``); ``clinnlp serve`` re-executes itself once with it. Trimming stays the fallback for processes
without it.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import logging
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None


def trim() -> bool:
    """Release free heap pages now; ``True`` when glibc's ``malloc_trim`` ran and released something."""
    malloc_trim = _malloc_trim()
    return bool(malloc_trim(0)) if malloc_trim is not None else False


def start_trimming(interval_seconds: float) -> threading.Thread | None:
    """Trim every ``interval_seconds`` on a daemon thread, once per process (later calls return the same
    thread); ``None`` when the interval is 0 or the C library has no ``malloc_trim``."""
    global _thread
    if interval_seconds <= 0 or _malloc_trim() is None:
        return None
    with _lock:
        if _thread is None or not _thread.is_alive():
            stop = threading.Event()

            def run():
                while not stop.wait(interval_seconds):
                    try:
                        trim()
                    except Exception as error:  # never let housekeeping end the process's service
                        log.error("malloc_trim: %s", type(error).__name__)

            _thread = threading.Thread(target=run, name="memory-trim", daemon=True)
            _thread.start()
        return _thread


def mimalloc_library() -> Path | None:
    """The mimalloc shared library of the installed ``cmeel-mimalloc`` package (Linux), or ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        distribution = importlib.metadata.distribution("cmeel-mimalloc")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in sorted(distribution.files or [], key=lambda f: len(f.name)):
        if file.name.startswith("libmimalloc.so"):
            path = Path(distribution.locate_file(file)).resolve()
            if path.is_file():
                return path
    return None


def mimalloc_loaded() -> bool:
    """Whether this process allocates with mimalloc (its symbols are in the process)."""
    try:
        return hasattr(ctypes.CDLL(None), "mi_version")
    except OSError:
        return False


class MimallocUnavailable(RuntimeError):
    """mimalloc cannot be preloaded here; the message says why."""


def preloading_mimalloc(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with mimalloc added to ``LD_PRELOAD`` (first), for a new process.

    A short trial process checks that the library loads with it: a preloaded library whose own dependencies are
    missing (``libatomic.so.1`` in a slim container) would stop every process started with it before ``main``.
    Raises :class:`MimallocUnavailable` when the library is not installed or does not load."""
    library = mimalloc_library()
    if library is None:
        raise MimallocUnavailable("cmeel-mimalloc is not installed (pip install -r requirements.txt)"
                                  if sys.platform.startswith("linux") else "preloading mimalloc is supported on Linux only")
    preload = [str(library), *[p for p in environ.get("LD_PRELOAD", "").split() if p and "mimalloc" not in p]]
    preloading = {**environ, "LD_PRELOAD": " ".join(preload)}
    check = "import ctypes, sys; sys.exit(0 if hasattr(ctypes.CDLL(None), 'mi_version') else 3)"
    try:
        trial = subprocess.run([sys.executable, "-I", "-S", "-c", check], env=preloading, capture_output=True,
                               text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MimallocUnavailable(f"a trial process with it did not run ({type(error).__name__})") from None
    if trial.returncode != 0:
        loader = trial.stderr.strip().splitlines()[-1:] or [f"exit status {trial.returncode}"]
        raise MimallocUnavailable(f"{library.name} does not load here: {loader[0][:300]}")
    return preloading
