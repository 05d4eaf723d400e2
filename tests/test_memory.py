"""Freed native memory goes back to the system (nlp.memory), and the service starts the trimming thread."""

import ctypes
import gc

import numpy as np
import psutil
import pytest

from nlp import memory

glibc = pytest.mark.skipif(memory._malloc_trim() is None, reason="needs glibc's malloc_trim")


def _rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


@glibc
def test_trim_hands_back_the_free_pages_that_fragmentation_keeps():
    # 64 KiB blocks come from malloc's heap (below its mmap threshold); keeping every 16th one leaves the
    # freed space in fragments that malloc does not return by itself, the way a server's many tensor sizes do.
    ctypes.CDLL(None).mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD fixed at its default: small blocks stay in the heap
    blocks = [np.ones(64 * 1024 - 128, dtype=np.uint8) for _ in range(3000)]
    kept = blocks[::16]
    del blocks
    gc.collect()
    before = _rss_mib()
    assert memory.trim()
    after = _rss_mib()
    assert before - after > 100, (before, after)
    assert all(int(block[-1]) == 1 for block in kept)  # what is still in use is untouched


@glibc
def test_one_trimming_thread_per_process():
    thread = memory.start_trimming(3600)
    assert thread is not None and thread.daemon and thread.is_alive()
    assert memory.start_trimming(60) is thread
    assert memory.start_trimming(0) is None


def test_the_service_trims_by_default(tmp_path, monkeypatch):
    from service.config import Settings

    assert Settings().memory_trim_seconds > 0
    monkeypatch.setenv("CLINNLP_MEMORY_TRIM_SECONDS", "0")
    assert Settings.load().memory_trim_seconds == 0
