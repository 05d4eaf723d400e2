"""Freed native memory goes back to the system (nlp.memory): mimalloc for the service, trimming as the fallback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlp import memory

glibc = pytest.mark.skipif(memory._malloc_trim() is None or memory.mimalloc_loaded(),
                           reason="needs glibc's malloc and malloc_trim")
with_mimalloc = pytest.mark.skipif(memory.mimalloc_library() is None, reason="needs the cmeel-mimalloc package (Linux)")


TRIM_SCRIPT = r"""
import ctypes, gc, json, mmap
from pathlib import Path

import numpy as np

from nlp import memory


def rss_mib():
    # Counted from the page tables: the plain RSS counter is per-CPU and approximate on Linux >= 6.2.
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            return int(line.split()[1]) / 1024


# Does this kernel show pages released with madvise(MADV_DONTNEED), what malloc_trim does, in the resident size?
region = mmap.mmap(-1, 256 * 2**20)
region.write(b"\1" * len(region))
probe = rss_mib()
region.madvise(mmap.MADV_DONTNEED)
shows_release = probe - rss_mib() > 200
region.close()
# 64 KiB blocks come from malloc's heap (below its mmap threshold); keeping every 16th one leaves the freed space in
# fragments that malloc does not return by itself, the way a server's many tensor sizes do.
ctypes.CDLL(None).mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD fixed at its default: small blocks stay in the heap
blocks = [np.ones(64 * 1024 - 128, dtype=np.uint8) for _ in range(3000)]
kept = blocks[::16]
del blocks
gc.collect()
before = rss_mib()
trimmed = memory.trim()
after = rss_mib()
print(json.dumps({"shows_release": shows_release, "trimmed": trimmed, "before": before, "after": after,
                  "intact": all(int(block[-1]) == 1 for block in kept)}))
"""


@glibc
@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="reads /proc/self/smaps_rollup (Linux)")
def test_trim_hands_back_the_free_pages_that_fragmentation_keeps():
    # In a fresh process: what a long test session left in this one's heaps (and its threads' arenas) is not
    # what the test is about.
    environ = {k: v for k, v in os.environ.items()
               if k not in ("LD_PRELOAD", "GLIBC_TUNABLES") and not k.startswith("MALLOC_")}
    result = json.loads(subprocess.run([sys.executable, "-c", TRIM_SCRIPT], env=environ, capture_output=True,
                                       text=True, check=True, cwd=Path(__file__).resolve().parents[1],
                                       ).stdout.splitlines()[-1])
    if not result["shows_release"]:
        pytest.skip("this kernel does not show pages released with madvise in the resident size")
    assert result["trimmed"] and result["before"] - result["after"] > 100, result
    assert result["intact"]  # what is still in use is untouched


@glibc
def test_one_trimming_thread_per_process():
    thread = memory.start_trimming(3600)
    assert thread is not None and thread.daemon and thread.is_alive()
    assert memory.start_trimming(60) is thread
    assert memory.start_trimming(0) is None


def test_the_service_settings_choose_mimalloc_and_trim_by_default(monkeypatch):
    from service.config import Settings

    assert Settings().memory_trim_seconds > 0 and Settings().allocator == "mimalloc"
    monkeypatch.setenv("CLINNLP_MEMORY_TRIM_SECONDS", "0")
    monkeypatch.setenv("CLINNLP_ALLOCATOR", "system")
    assert Settings.load().memory_trim_seconds == 0 and Settings.load().allocator == "system"
    monkeypatch.setenv("CLINNLP_ALLOCATOR", "jemalloc")
    with pytest.raises(ValueError, match="CLINNLP_ALLOCATOR"):
        Settings.load()


@with_mimalloc
def test_a_process_started_with_the_preloading_environment_allocates_with_mimalloc():
    code = "from nlp.memory import mimalloc_loaded; print(mimalloc_loaded())"
    plain_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    plain = subprocess.run([sys.executable, "-c", code], env=plain_env, capture_output=True, text=True, check=True)
    preloaded = subprocess.run([sys.executable, "-c", code], env=memory.preloading_mimalloc(plain_env),
                               capture_output=True, text=True, check=True)
    assert (plain.stdout.strip(), preloaded.stdout.strip()) == ("False", "True")


@with_mimalloc
def test_preloading_puts_mimalloc_first_once_and_keeps_other_libraries():
    environ = memory.preloading_mimalloc({"LD_PRELOAD": "/lib/other.so /old/libmimalloc.so.2", "A": "1"})
    assert environ["LD_PRELOAD"].split() == [str(memory.mimalloc_library()), "/lib/other.so"]
    assert environ["A"] == "1"


@with_mimalloc
def test_a_library_that_does_not_load_is_not_preloaded(monkeypatch, tmp_path):
    # As in a slim container without libatomic.so.1: a preloaded library that cannot load would stop every
    # process started with it, so the trial process catches it and the caller stays on the system allocator.
    broken = tmp_path / "libmimalloc.so"
    broken.write_text("not a shared library")
    monkeypatch.setattr(memory, "mimalloc_library", lambda: broken)
    with pytest.raises(memory.MimallocUnavailable, match="libmimalloc.so does not load here"):
        memory.preloading_mimalloc({"PATH": os.environ.get("PATH", "")})


def test_serve_starts_itself_again_on_mimalloc_once(monkeypatch):
    from service import cli

    started = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append((path, argv, env)))
    monkeypatch.setattr(memory, "mimalloc_loaded", lambda: False)
    monkeypatch.setattr(memory, "preloading_mimalloc", lambda environ: {**environ, "LD_PRELOAD": "/x/libmimalloc.so"})
    monkeypatch.delenv("_CLINNLP_PRELOADED", raising=False)
    monkeypatch.setenv("LD_PRELOAD", "/lib/users.so")
    cli._run_on_the_configured_allocator("system")
    assert started == []
    cli._run_on_the_configured_allocator("mimalloc")
    [(path, argv, env)] = started
    assert path == sys.executable and argv == [sys.executable, *sys.orig_argv[1:]]
    assert env["LD_PRELOAD"] == "/x/libmimalloc.so" and env["_CLINNLP_PRELOADED"] == "1"
    # The preload did not take: no second start; the user's LD_PRELOAD is back for anything started later.
    monkeypatch.setenv("_CLINNLP_PRELOADED", "1")
    monkeypatch.setenv("_CLINNLP_LD_PRELOAD", "/lib/users.so")
    monkeypatch.setenv("LD_PRELOAD", "/x/libmimalloc.so")
    cli._run_on_the_configured_allocator("mimalloc")
    assert len(started) == 1
    assert os.environ["LD_PRELOAD"] == "/lib/users.so" and "_CLINNLP_PRELOADED" not in os.environ


def test_serve_stays_on_the_system_allocator_where_mimalloc_does_not_load(monkeypatch, capsys):
    from service import cli

    def unavailable(environ):
        raise memory.MimallocUnavailable("libmimalloc.so does not load here: libatomic.so.1: cannot open")

    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("must not start again"))
    monkeypatch.setattr(memory, "mimalloc_loaded", lambda: False)
    monkeypatch.setattr(memory, "preloading_mimalloc", unavailable)
    monkeypatch.delenv("_CLINNLP_PRELOADED", raising=False)
    cli._run_on_the_configured_allocator("mimalloc")
    assert "libatomic.so.1" in capsys.readouterr().err
