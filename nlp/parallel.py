"""How many processes to use, and the one way this project starts a pool of worker processes."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

MAX_DEFAULT_WORKERS = 4  # beyond this, reading and writing files limit the speed of a batch run

_inference_threads = 0


def set_inference_threads(threads: int) -> None:
    """Threads each model's encoder (torch or ONNX Runtime) may use in this process; 0: the library's own
    choice (every core). A server with several worker processes shares the cores out with this."""
    global _inference_threads
    _inference_threads = max(0, int(threads))


def inference_threads() -> int:
    """What :func:`set_inference_threads` set (0 when nothing did)."""
    return _inference_threads


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, which containers and taskset narrow), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Worker processes for a batch run: the CPUs available, at most :data:`MAX_DEFAULT_WORKERS`."""
    return min(MAX_DEFAULT_WORKERS, available_cpus())


def worker_pool(workers: int, initializer, initargs: tuple = (), start: str = "fork") -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, each set up once by ``initializer(*initargs)`` (its models loaded there).

    Args:
        start: ``fork`` (fast; the parent's loaded models are shared copy-on-write) or ``spawn`` (for work that
            starts torch threads, which do not survive a fork).
    """
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start), initializer=initializer,
                               initargs=initargs)
