"""Asynchronous batch jobs: records in the service database, inputs and results in the job storage (a folder, or
the database: ``service.job_files``), worker threads.

Nothing accepted is lost. A job is stored and recorded in the database before ``202`` is returned; worker
threads claim QUEUED jobs with an atomic update, so several workers or replicas never run the same job. A job
found RUNNING when a service starts, whose owner process is gone (a crash, a kill, a restart), is queued
again and re-run from its saved input (its results file is rewritten from the start).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import orjson
from sqlalchemy import Boolean, DateTime, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from nlp.batch import process_records
from nlp.documents import InputError, Stream, count_records, read_documents
from service.database import Base, open_engine
from service.job_files import job_files
from service.options import OPERATIONS

log = logging.getLogger(__name__)

QUEUED, RUNNING, COMPLETED, PARTIAL_SUCCESS, FAILED, CANCELLED = (
    "QUEUED", "RUNNING", "COMPLETED", "PARTIAL_SUCCESS", "FAILED", "CANCELLED")
FINISHED = (COMPLETED, PARTIAL_SUCCESS, FAILED, CANCELLED)
# Which process runs a job: host, pid and a random token (a restarted container can reuse a pid).
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
# A job's files besides its input (service.job_files keeps them in a folder or the database).
RESULTS, ERRORS = "results.jsonl", "results.errors.jsonl"
HEARTBEAT_SECONDS = 5
STALE_SECONDS = 30


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    operation: Mapped[str] = mapped_column(String(16))
    options: Mapped[str] = mapped_column(Text)
    input_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Cancelled(Exception):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _owner_gone(owner: str | None, heartbeat: datetime | None) -> bool:
    """True when the process that claimed a job is surely not running it any more."""
    if owner == OWNER:
        return False
    host, pid = (owner or "::").split(":")[:2]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    # A live pid may belong to another process now: trust the heartbeat.
    return heartbeat is None or (_now() - _aware(heartbeat)).total_seconds() > STALE_SECONDS


class JobManager:
    """Stores jobs and runs them in ``threads`` background threads of this process."""

    def __init__(self, url: str, folder: Path, registry, threads: int = 1, poll_seconds: float = 0.5,
                 max_attempts: int = 3, storage: str = "folder", data_key: str = ""):
        self.engine = open_engine(url)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files = job_files(storage, self.folder, self.engine, data_key)
        self.registry = registry
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.stopping = threading.Event()
        self.recover()
        self.threads = [threading.Thread(target=self._work, name=f"clinnlp-job-{i}", daemon=True)
                        for i in range(threads)]
        self.threads.append(threading.Thread(target=self._beat, name="clinnlp-job-heartbeat", daemon=True))
        for thread in self.threads:
            thread.start()

    # -- the API's side ---------------------------------------------------------------------------
    def submit(self, key_id: str | None, options, source: Path, suffix: str, name: str) -> dict:
        """Store the input and queue the job; returns its status.

        Args:
            options: The operation's resolved options (a :class:`service.options.Options`).
            source: The saved input file; it is moved into the job's storage.
            suffix: Its format (``.jsonl``, ``.csv``, ``.tsv``).
            name: The input's own name (an upload's file name), used for sources in the errors manifest.
        """
        job_id = uuid.uuid4().hex
        input_name = f"input{suffix}"
        try:
            try:
                total = count_records(source)
            except InputError:
                total = 0
            self.files.save(job_id, input_name, Path(source))
            with Session(self.engine) as session:
                session.add(Job(id=job_id, key_id=key_id, operation=options.operation,
                                options=json.dumps({**options.model_dump(mode="json", exclude_none=True),
                                                    "source_name": name}),
                                input_name=input_name, status=QUEUED, total=total, created=_now()))
                session.commit()
        except BaseException:
            self.files.delete(job_id)  # no files without their row
            raise
        return self.status(job_id, key_id)

    def submit_records(self, key_id: str | None, options, records: list[dict]) -> dict:
        """Queue a job over JSON records (``{"id", "text"}`` objects, checked as the job runs)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        staged = self.folder / f"incoming-{uuid.uuid4().hex}.jsonl"
        try:
            with staged.open("wb") as handle:
                for record in records:
                    handle.write(orjson.dumps(record) + b"\n")
            return self.submit(key_id, options, staged, ".jsonl", "documents")
        finally:
            staged.unlink(missing_ok=True)

    def get(self, job_id: str, key_id: str | None) -> Job | None:
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            if job is None or job.key_id != key_id:
                return None  # another key's job does not exist for this caller
            session.expunge(job)
            return job

    def status(self, job_id: str, key_id: str | None) -> dict | None:
        job = self.get(job_id, key_id)
        if job is None:
            return None
        seconds = ((_aware(job.finished) or _now()) - _aware(job.started)).total_seconds() if job.started else None
        options = {k: v for k, v in json.loads(job.options).items() if k != "source_name"}
        return {"id": job.id, "status": job.status, "operation": job.operation, "options": options,
                "progress": {"total": job.total, "processed": job.processed, "failed": job.failed},
                "timings": {"created": _iso(job.created), "started": _iso(job.started),
                            "finished": _iso(job.finished), "seconds": round(seconds, 3) if seconds else seconds},
                "attempts": job.attempts, "reason": job.reason}

    def cancel(self, job_id: str, key_id: str | None) -> dict | None:
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            if job is None or job.key_id != key_id:
                return None
            if job.status == QUEUED:
                job.status, job.finished, job.reason = CANCELLED, _now(), "cancelled before it started"
            elif job.status == RUNNING:
                job.cancel_requested = True
            session.commit()
        return self.status(job_id, key_id)

    def results(self, job_id: str) -> Iterator[bytes] | None:
        """The job's results (JSON lines) as they are so far, in pieces; ``None`` before it writes any."""
        return self.files.read(job_id, RESULTS)

    def errors(self, job_id: str) -> Iterator[bytes] | None:
        """The job's errors manifest (JSON lines), in pieces; ``None`` before it writes one."""
        return self.files.read(job_id, ERRORS)

    # -- recovery and workers ---------------------------------------------------------------------
    def recover(self) -> None:
        """Queue again every RUNNING job whose owner process is gone (or give up after max_attempts)."""
        with Session(self.engine) as session:
            for job in session.scalars(select(Job).where(Job.status == RUNNING)):
                if not _owner_gone(job.owner, job.heartbeat):
                    continue
                if job.attempts >= self.max_attempts:
                    job.status, job.finished = FAILED, _now()
                    job.reason = f"the service stopped during each of {job.attempts} attempts"
                else:
                    job.status, job.owner = QUEUED, None
                    job.reason = "re-run from its input after the service restarted"
                log.warning("job %s was RUNNING when its process ended: now %s", job.id, job.status)
            session.commit()

    def stop(self) -> None:
        self.stopping.set()

    def _claim(self) -> str | None:
        with Session(self.engine) as session:
            job_id = session.scalars(select(Job.id).where(Job.status == QUEUED).order_by(Job.created).limit(1)).first()
            if job_id is None:
                return None
            claimed = session.execute(update(Job).where(Job.id == job_id, Job.status == QUEUED).values(
                status=RUNNING, owner=OWNER, started=_now(), heartbeat=_now(), processed=0, failed=0,
                attempts=Job.attempts + 1))
            session.commit()
            return job_id if claimed.rowcount == 1 else None

    def _beat(self) -> None:
        while not self.stopping.wait(HEARTBEAT_SECONDS):
            try:
                with Session(self.engine) as session:
                    session.execute(update(Job).where(Job.owner == OWNER, Job.status == RUNNING)
                                    .values(heartbeat=_now()))
                    session.commit()
            except Exception as error:  # a database restart must not end the heartbeat (others would re-run
                log.error("job heartbeat: %s; retrying", type(error).__name__)  # this process's jobs)

    def _work(self) -> None:
        last_recovery = time.monotonic()
        while not self.stopping.is_set():
            try:
                job_id = self._claim()
                if job_id is None:
                    if time.monotonic() - last_recovery > HEARTBEAT_SECONDS:
                        self.recover()  # a job of a process that died after this one started
                        last_recovery = time.monotonic()
                    self.stopping.wait(self.poll_seconds)
                    continue
                self._run(job_id)
            except Exception as error:  # a database hiccup must not end the worker thread
                log.error("job worker: %s; retrying", type(error).__name__)
                self.stopping.wait(self.poll_seconds * 4)

    def _run(self, job_id: str) -> None:
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            operation, options, input_name = job.operation, json.loads(job.options), job.input_name

        def progress(processed: int, failed: int) -> None:
            with Session(self.engine) as session:
                job = session.get(Job, job_id)
                job.processed, job.failed = processed, failed
                cancel = job.cancel_requested
                session.commit()
            if cancel:
                raise Cancelled()

        status, reason = FAILED, None
        try:
            source_name = options.pop("source_name", input_name)
            chosen = OPERATIONS[operation].model_validate({k: v for k, v in options.items() if v is not None})
            writer = chosen.writer(self.registry)
            # Read and written through the job storage's streams: no copy of the text outside it.
            source = Stream(partial(self.files.open_read, job_id, input_name), Path(input_name).suffix[1:],
                            source_name)
            with self.files.open_write(job_id, RESULTS) as out, self.files.open_write(job_id, ERRORS) as err:
                processed, failed = process_records(writer, read_documents(source, name=source_name), out, err,
                                                    progress=False, on_batch=progress)
            if failed == 0:
                status = COMPLETED
            elif processed:
                status = PARTIAL_SUCCESS
            else:
                status, reason = FAILED, "every record failed (see the errors manifest)"
        except Cancelled:
            status, reason = CANCELLED, "cancelled while running"
        except InputError as error:
            reason = f"unreadable input: {str(error).split(': ', 1)[-1]}"
        except Exception as error:  # the type only: a message could quote a document
            reason = f"the job failed ({type(error).__name__})"
            log.error("job %s failed with %s", job_id, type(error).__name__)
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            if job.owner == OWNER and job.status == RUNNING:  # else another process took it over
                job.status, job.reason, job.finished = status, reason, _now()
                session.commit()


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _iso(moment: datetime | None) -> str | None:
    return _aware(moment).isoformat(timespec="seconds") if moment is not None else None
