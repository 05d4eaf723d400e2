"""Give freed native memory back to the operating system, periodically, in long-running processes.

glibc's ``malloc`` keeps what torch, tokenizers, spaCy and numpy free in its heaps (one per thread arena) and
hands pages back to the system only from the top of a heap. A server whose threads allocate and free buffers of
many sizes therefore keeps growing by free fragments it rarely reuses: under the soak mix the service's workers
grew about 150 MiB each in ten minutes while Python's own objects (``tracemalloc``) stayed within 16 MiB.
``malloc_trim(0)`` releases the free pages of every arena; called every few seconds it keeps the resident size
at what is in use. Elsewhere (musl, macOS, a process without glibc) it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import threading

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
