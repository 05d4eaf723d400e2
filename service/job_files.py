"""Where a job's files live (its input, results and errors manifest): a folder, or the service database.

- ``folder`` (the default): ``STATE_DIR/jobs/<job id>/<name>``. One machine; or several replicas that mount the
  same ReadWriteMany volume there (NFS, CephFS, Azure Files, EFS).
- ``database``: rows of the service database (table ``job_files``), each chunk sealed with AES-GCM under
  ``CLINNLP_DATA_KEY``: the files hold patient text, and the database and its backups never see it in clear.
  Replicas then share nothing but the database they need anyway for keys and jobs: no shared volume, no object
  store to run, one backup for everything a job is. Nothing is staged on local disk: the runner reads the
  input through a decrypting stream and writes results through an encrypting one that stores a chunk at each
  flush (after each batch), so partial results are readable while a job runs, as with a folder.

Both give the job runner and the API the same operations, by job id and file name.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Integer, LargeBinary, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.database import Base

CHUNK_BYTES = 1024 * 1024
BACKENDS = ("folder", "database")


class JobFile(Base):
    """One chunk of one job file (``database`` storage)."""

    __tablename__ = "job_files"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class FolderFiles:
    """Job files in ``folder/<job id>/<name>``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def save(self, job_id: str, name: str, source: Path) -> None:
        """Move ``source`` in as the job's ``name``."""
        target = self.folder / job_id / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), target)

    def open_read(self, job_id: str, name: str) -> BinaryIO:
        return (self.folder / job_id / name).open("rb")

    def open_write(self, job_id: str, name: str) -> BinaryIO:
        """A new, empty ``name`` (a re-run starts its outputs from nothing)."""
        path = self.folder / job_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("wb")

    def read(self, job_id: str, name: str) -> Iterator[bytes] | None:
        """The file's bytes in pieces, or ``None`` when it does not exist (yet)."""
        path = self.folder / job_id / name
        if not path.is_file():
            return None

        def chunks():
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    yield chunk

        return chunks()

    def delete(self, job_id: str) -> None:
        shutil.rmtree(self.folder / job_id, ignore_errors=True)


def data_key(text: str) -> bytes:
    """The 32-byte key that ``CLINNLP_DATA_KEY`` holds (URL-safe base64, as
    ``python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`` prints)."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError("CLINNLP_DATA_KEY must be 32 random bytes in URL-safe base64 (44 characters)")
    return key


class DatabaseFiles:
    """Job files as encrypted chunks in the ``job_files`` table of the service database.

    Each chunk is sealed with AES-GCM under a fresh 96-bit nonce and bound to its job, file name and position:
    without the key it cannot be read, and a changed or moved chunk fails to open.
    """

    def __init__(self, engine, key: bytes):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.engine = engine
        self.aead = AESGCM(key)

    def _seal(self, job_id: str, name: str, number: int, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self.aead.encrypt(nonce, data, f"{job_id}/{name}/{number}".encode())

    def _unseal(self, job_id: str, name: str, number: int, sealed: bytes) -> bytes:
        return self.aead.decrypt(sealed[:12], sealed[12:], f"{job_id}/{name}/{number}".encode())

    def save(self, job_id: str, name: str, source: Path) -> None:
        """Store ``source`` as the job's ``name`` (one transaction), then delete ``source``."""
        with Session(self.engine) as session, Path(source).open("rb") as handle:
            session.execute(delete(JobFile).where(JobFile.job_id == job_id, JobFile.name == name))
            number = 0
            while chunk := handle.read(CHUNK_BYTES):
                session.add(JobFile(job_id=job_id, name=name, chunk=number,
                                    data=self._seal(job_id, name, number, chunk)))
                session.flush()  # one chunk in memory at a time
                session.expunge_all()
                number += 1
            session.commit()
        Path(source).unlink()

    def open_read(self, job_id: str, name: str) -> BinaryIO:
        return io.BufferedReader(_ChunkReader(self, job_id, name), buffer_size=CHUNK_BYTES)

    def open_write(self, job_id: str, name: str) -> BinaryIO:
        """A new, empty ``name`` (a re-run starts its outputs from nothing); each flush stores a chunk."""
        return _ChunkWriter(self, job_id, name)

    def _chunk(self, job_id: str, name: str, number: int) -> bytes | None:
        with Session(self.engine) as session:
            sealed = session.scalar(select(JobFile.data).where(
                JobFile.job_id == job_id, JobFile.name == name, JobFile.chunk == number))
        return None if sealed is None else self._unseal(job_id, name, number, sealed)

    def read(self, job_id: str, name: str) -> Iterator[bytes] | None:
        """The file's bytes in pieces (one query per chunk), or ``None`` when it does not exist (yet)."""
        with Session(self.engine) as session:
            if not session.scalar(select(func.count()).where(JobFile.job_id == job_id, JobFile.name == name)):
                return None

        def chunks():
            number = 0
            while (data := self._chunk(job_id, name, number)) is not None:
                yield data
                number += 1

        return chunks()

    def delete(self, job_id: str) -> None:
        with Session(self.engine) as session:
            session.execute(delete(JobFile).where(JobFile.job_id == job_id))
            session.commit()


class _ChunkReader(io.RawIOBase):
    """A file of ``DatabaseFiles`` read chunk by chunk."""

    def __init__(self, files: DatabaseFiles, job_id: str, name: str):
        self.files, self.job_id, self.name = files, job_id, name
        self.number, self.pending = 0, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            chunk = self.files._chunk(self.job_id, self.name, self.number)
            if chunk is None:
                return 0
            self.pending, self.number = chunk, self.number + 1
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


class _ChunkWriter(io.RawIOBase):
    """A file of ``DatabaseFiles`` written in chunks: what was written is stored at each flush and at close."""

    def __init__(self, files: DatabaseFiles, job_id: str, name: str):
        self.files, self.job_id, self.name = files, job_id, name
        self.number, self.buffer = 0, bytearray()
        with Session(files.engine) as session:
            session.execute(delete(JobFile).where(JobFile.job_id == job_id, JobFile.name == name))
            session.commit()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.buffer += data
        if len(self.buffer) >= CHUNK_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if not self.buffer or self.closed:
            return
        with Session(self.files.engine) as session:
            for start in range(0, len(self.buffer), CHUNK_BYTES):
                piece = bytes(self.buffer[start:start + CHUNK_BYTES])
                session.add(JobFile(job_id=self.job_id, name=self.name, chunk=self.number,
                                    data=self.files._seal(self.job_id, self.name, self.number, piece)))
                self.number += 1
            session.commit()
        self.buffer.clear()

    def close(self) -> None:
        if not self.closed:
            self.flush()
        super().close()


def job_files(storage: str, folder: Path, engine, key: str = "") -> FolderFiles | DatabaseFiles:
    """The job file storage that the ``job_storage`` setting names (``database`` needs the data key)."""
    if storage == "folder":
        return FolderFiles(folder)
    if storage == "database":
        if not key:
            raise ValueError("CLINNLP_JOB_STORAGE=database needs CLINNLP_DATA_KEY: job files hold patient text, "
                             "and the database gets them only encrypted")
        return DatabaseFiles(engine, data_key(key))
    raise ValueError(f"unknown job storage {storage!r}; known: {', '.join(BACKENDS)}")
