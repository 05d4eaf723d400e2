"""A job's files: its input, results and errors manifest, encrypted at rest (see :mod:`service.encryption`).

Layout: ``<state>/jobs/<job id>/`` (mode 0700) holds ``input.<jsonl|csv|tsv>``, ``results.jsonl`` and
``errors.jsonl``, each an encrypted file bound to its job and purpose. While a job runs, results and errors are
written to ``*.partial`` files and renamed in one step when the run ends, so a finished job's files are whole
and a crashed run never leaves a file that looks complete. Nothing here ever holds a plaintext copy on disk:
inputs are encrypted as they arrive, read through a decrypting stream and results are encrypted as written.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from nlp.documents import Stream
from service.encryption import CHUNK_BYTES, DataKeys, EncryptedWriter, open_encrypted

RESULTS, ERRORS = "results", "errors"


class JobFiles:
    """Encrypted files of every job under ``folder``."""

    def __init__(self, folder: Path, keys: DataKeys):
        self.folder = Path(folder)
        self.keys = keys
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _dir(self, job_id: str) -> Path:
        return self.folder / job_id

    @staticmethod
    def _purpose(job_id: str, kind: str) -> str:
        return f"clinnlp job {job_id} {kind}"

    # -- input --------------------------------------------------------------------------------------
    @contextmanager
    def input_writer(self, job_id: str, suffix: str) -> Iterator[BinaryIO]:
        """A stream to write a new job's input to (encrypted as it is written); on failure nothing is kept."""
        folder = self._dir(job_id)
        folder.mkdir(mode=0o700)
        try:
            with EncryptedWriter(folder / f"input{suffix}", self.keys, self._purpose(job_id, "input")) as sink:
                yield sink
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def input_stream(self, job_id: str, suffix: str, name: str) -> Stream:
        """The job's input as a :class:`nlp.documents.Stream` that decrypts as it is read."""
        path = self._dir(job_id) / f"input{suffix}"
        return Stream(lambda: open_encrypted(path, self.keys, self._purpose(job_id, "input")), suffix.lstrip("."),
                      name)

    # -- results and errors -------------------------------------------------------------------------
    @contextmanager
    def output_writers(self, job_id: str) -> Iterator[tuple[BinaryIO, BinaryIO]]:
        """Streams for a run's results and errors. When the block ends they are sealed and take the place of
        the previous run's files; if it fails, what was written (whole batches) is kept but marked incomplete."""
        folder = self._dir(job_id)
        partials = {kind: folder / f"{kind}.jsonl.partial" for kind in (RESULTS, ERRORS)}
        for path in partials.values():
            path.unlink(missing_ok=True)  # a crashed earlier run's leftovers
        writers = {kind: EncryptedWriter(path, self.keys, self._purpose(job_id, kind)) for kind, path in partials.items()}
        failed = False
        try:
            yield writers[RESULTS], writers[ERRORS]
        except BaseException:
            failed = True
            raise
        finally:
            for writer in writers.values():
                writer.abandon() if failed else writer.close()
            for kind, path in partials.items():
                os.replace(path, folder / f"{kind}.jsonl")

    def read(self, job_id: str, kind: str, complete: bool) -> io.BufferedReader | None:
        """The decrypted results or errors (the finished file, else a running job's partial one), or None.

        Args:
            complete: Refuse a file without its last chunk (a job that finished normally).
        """
        folder = self._dir(job_id)
        for path, whole in ((folder / f"{kind}.jsonl", complete), (folder / f"{kind}.jsonl.partial", False)):
            if path.is_file():
                return open_encrypted(path, self.keys, self._purpose(job_id, kind), complete=whole)
        return None

    def chunks(self, job_id: str, kind: str, complete: bool) -> Iterator[bytes]:
        """The decrypted file in blocks, for a streamed response (nothing if there is none)."""
        reader = self.read(job_id, kind, complete)
        if reader is None:
            return
        with reader:
            while block := reader.read(CHUNK_BYTES):
                yield block

    # -- life cycle ---------------------------------------------------------------------------------
    def has_data(self, job_id: str) -> bool:
        return self._dir(job_id).is_dir()

    def delete(self, job_id: str) -> bool:
        """Remove every file of the job (input, results, errors); True if there were any."""
        folder = self._dir(job_id)
        if not folder.is_dir():
            return False
        shutil.rmtree(folder)
        return True

    def job_ids(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir()) if self.folder.is_dir() else []

    def rekey(self, job_id: str, progress: Callable[[str], None] | None = None) -> int:
        """Re-encrypt every file of a finished job with the current key; returns how many files."""
        count = 0
        for path in sorted(self._dir(job_id).glob("*")):
            if path.name.endswith(".partial") or path.name.startswith("."):
                continue
            kind = "input" if path.name.startswith("input") else path.name.split(".")[0]
            purpose = self._purpose(job_id, kind)
            fresh = path.with_name(f".{path.name}.rekey")
            fresh.unlink(missing_ok=True)
            with open_encrypted(path, self.keys, purpose, complete=kind == "input") as plain, \
                    EncryptedWriter(fresh, self.keys, purpose) as sealed:
                while block := plain.read(CHUNK_BYTES):
                    sealed.write(block)
            os.replace(fresh, path)
            count += 1
            if progress:
                progress(path.name)
        return count
