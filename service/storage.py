"""A job's files: its input, results and errors manifest, encrypted at rest (see :mod:`service.encryption`).

Two places hold them (``CLINNLP_JOB_STORAGE``): ``folder`` (:class:`JobFiles`, the default: one machine, or
several replicas that mount one ReadWriteMany volume at ``<state>/jobs``) and ``database``
(:class:`DatabaseJobFiles`: the same encrypted bytes as rows of the service database, so replicas share nothing
but the database they need anyway for keys and jobs). Both encrypt the same way before anything is stored.

Folder storage:

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

from sqlalchemy import Integer, LargeBinary, String, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from nlp.documents import Stream
from service.database import Base
from service.encryption import CHUNK_BYTES, DataKeys, EncryptedWriter, open_encrypted

RESULTS, ERRORS = "results", "errors"
STORAGES = ("folder", "database")



@contextmanager
def _sealing(writers) -> Iterator[None]:
    """Close (seal) every writer when the block ends, or abandon them all, marked incomplete, if it raised."""
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        for writer in writers:
            writer.abandon() if failed else writer.close()

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
        try:
            with _sealing(writers.values()):
                yield writers[RESULTS], writers[ERRORS]
        finally:
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


def job_files(settings) -> "JobFiles":
    """The job storage that the settings name (``job_storage``: ``folder`` or ``database``).

    Raises:
        ValueError: An unknown storage, or ``database`` without ``CLINNLP_DATA_KEY``: replicas must share the
            key (a key file made in one replica's state folder would leave the others unable to read its jobs).
    """
    state = Path(settings.state_dir)
    if settings.job_storage == "folder":
        return JobFiles(state / "jobs", DataKeys.load(settings.data_key, state))
    if settings.job_storage == "database":
        if not settings.data_key:
            raise ValueError("CLINNLP_JOB_STORAGE=database needs CLINNLP_DATA_KEY, the same on every replica "
                             "(make one with: clinnlp jobs new-key)")
        from service.database import open_engine

        return DatabaseJobFiles(open_engine(settings.database_url), DataKeys.parse(settings.data_key))
    raise ValueError(f"CLINNLP_JOB_STORAGE: unknown job storage {settings.job_storage!r}; known: "
                     f"{', '.join(STORAGES)}")


class JobFileChunk(Base):
    """Up to :data:`ROW_BYTES` of one job file's encrypted bytes (``database`` storage)."""

    __tablename__ = "job_files"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


ROW_BYTES = 1 << 20


class DatabaseJobFiles(JobFiles):
    """Job files as rows of the service database (table ``job_files``), encrypted exactly as in a folder.

    A file is its rows in order; a writer adds a row at each flush (after each batch), so a running job's
    partial results are readable from any replica. Renaming a run's ``*.partial`` files to their final names
    is one transaction. Nothing is staged on local disk.
    """

    folder = None  # nothing on disk

    def __init__(self, engine, keys: DataKeys):
        self.engine = engine
        self.keys = keys

    def _names(self, job_id: str) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(JobFileChunk.name).where(JobFileChunk.job_id == job_id)
                                        .group_by(JobFileChunk.name)))

    def _exists(self, job_id: str, name: str) -> bool:
        with Session(self.engine) as session:
            return bool(session.scalar(select(func.count()).where(JobFileChunk.job_id == job_id,
                                                                  JobFileChunk.name == name)))

    def _rename(self, job_id: str, pairs: dict[str, str]) -> None:
        """Give files new names (replacing files of those names), all in one transaction."""
        with Session(self.engine) as session:
            for old, new in pairs.items():
                session.execute(delete(JobFileChunk).where(JobFileChunk.job_id == job_id, JobFileChunk.name == new))
                session.execute(update(JobFileChunk).where(JobFileChunk.job_id == job_id, JobFileChunk.name == old)
                                .values(name=new))
            session.commit()

    def _remove(self, job_id: str, name: str | None = None) -> int:
        with Session(self.engine) as session:
            condition = [JobFileChunk.job_id == job_id] + ([JobFileChunk.name == name] if name else [])
            removed = session.execute(delete(JobFileChunk).where(*condition)).rowcount
            session.commit()
        return removed

    # -- input --------------------------------------------------------------------------------------
    @contextmanager
    def input_writer(self, job_id: str, suffix: str) -> Iterator[BinaryIO]:
        try:
            with EncryptedWriter(_RowWriter(self, job_id, f"input{suffix}"), self.keys,
                                 self._purpose(job_id, "input")) as sink:
                yield sink
        except BaseException:
            self._remove(job_id)
            raise

    def input_stream(self, job_id: str, suffix: str, name: str) -> Stream:
        return Stream(lambda: open_encrypted(_RowReader.open(self, job_id, f"input{suffix}"), self.keys,
                                             self._purpose(job_id, "input")), suffix.lstrip("."), name)

    # -- results and errors -------------------------------------------------------------------------
    @contextmanager
    def output_writers(self, job_id: str) -> Iterator[tuple[BinaryIO, BinaryIO]]:
        partials = {kind: f"{kind}.jsonl.partial" for kind in (RESULTS, ERRORS)}
        writers = {kind: EncryptedWriter(_RowWriter(self, job_id, name), self.keys, self._purpose(job_id, kind))
                   for kind, name in partials.items()}
        try:
            with _sealing(writers.values()):
                yield writers[RESULTS], writers[ERRORS]
        finally:
            self._rename(job_id, {name: f"{kind}.jsonl" for kind, name in partials.items()})

    def read(self, job_id: str, kind: str, complete: bool) -> io.BufferedReader | None:
        for name, whole in ((f"{kind}.jsonl", complete), (f"{kind}.jsonl.partial", False)):
            if self._exists(job_id, name):
                return open_encrypted(_RowReader.open(self, job_id, name), self.keys, self._purpose(job_id, kind),
                                      complete=whole)
        return None

    # -- life cycle ---------------------------------------------------------------------------------
    def has_data(self, job_id: str) -> bool:
        return bool(self._names(job_id))

    def delete(self, job_id: str) -> bool:
        return self._remove(job_id) > 0

    def job_ids(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(JobFileChunk.job_id).group_by(JobFileChunk.job_id)
                                        .order_by(JobFileChunk.job_id)))

    def rekey(self, job_id: str, progress: Callable[[str], None] | None = None) -> int:
        count = 0
        for name in sorted(self._names(job_id)):
            if name.endswith((".partial", ".rekey")):
                continue
            kind = "input" if name.startswith("input") else name.split(".")[0]
            purpose = self._purpose(job_id, kind)
            self._remove(job_id, f"{name}.rekey")
            with open_encrypted(_RowReader.open(self, job_id, name), self.keys, purpose,
                                complete=kind == "input") as plain, \
                    EncryptedWriter(_RowWriter(self, job_id, f"{name}.rekey"), self.keys, purpose) as sealed:
                while block := plain.read(CHUNK_BYTES):
                    sealed.write(block)
            self._rename(job_id, {f"{name}.rekey": name})
            count += 1
            if progress:
                progress(name)
        return count


class _RowWriter(io.RawIOBase):
    """The encrypted bytes of one job file, stored as a new row at each flush (and at close)."""

    def __init__(self, files: DatabaseJobFiles, job_id: str, name: str):
        super().__init__()
        self.files, self.job_id, self.name = files, job_id, name
        self.number, self.buffer = 0, bytearray()
        files._remove(job_id, name)  # a new file, as a folder's open(..., "xb") after the old one is gone

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.buffer += data
        if len(self.buffer) >= ROW_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.closed or not self.buffer:
            return
        with Session(self.files.engine) as session:
            session.add(JobFileChunk(job_id=self.job_id, name=self.name, chunk=self.number, data=bytes(self.buffer)))
            session.commit()
        self.number += 1
        self.buffer.clear()

    def close(self) -> None:
        if not self.closed:
            self.flush()
        super().close()


class _RowReader(io.RawIOBase):
    """The encrypted bytes of one job file, read row by row (one row in memory at a time)."""

    def __init__(self, files: DatabaseJobFiles, job_id: str, name: str):
        super().__init__()
        self.files, self.job_id, self.name = files, job_id, name
        self.number, self.pending = 0, b""

    @classmethod
    def open(cls, files: DatabaseJobFiles, job_id: str, name: str) -> io.BufferedReader:
        return io.BufferedReader(cls(files, job_id, name), buffer_size=ROW_BYTES)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            with Session(self.files.engine) as session:
                row = session.scalar(select(JobFileChunk.data).where(
                    JobFileChunk.job_id == self.job_id, JobFileChunk.name == self.name,
                    JobFileChunk.chunk == self.number))
            if row is None:
                return 0
            self.pending, self.number = row, self.number + 1
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size
