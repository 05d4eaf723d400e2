"""Asynchronous batch jobs: records in the service database, encrypted files on disk, worker threads.

Nothing accepted is lost. A job's input is stored (encrypted, :mod:`service.storage`) and its row written before
``202`` is returned; worker threads claim QUEUED jobs with an atomic update, so several gunicorn workers never
run the same job, and take turns between keys (the key with the fewest running jobs goes first), so one key's
backlog cannot starve the others. A job found RUNNING when a service starts, whose owner process is gone (a
crash, a kill, a restart), is queued again and re-run from its saved input (its results are rewritten from the
start). A finished job's files are deleted on request (``DELETE``) or after the retention period; its row stays,
with its status and counts.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Boolean, DateTime, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from nlp.batch import process_records
from nlp.documents import Document, DocumentError, Fields, InputError, count_records, read_documents
from service.batching import Batchers
from service.database import Base, open_engine
from service.options import OPERATIONS
from service.storage import JobFiles

log = logging.getLogger(__name__)

QUEUED, RUNNING, COMPLETED, PARTIAL_SUCCESS, FAILED, CANCELLED = (
    "QUEUED", "RUNNING", "COMPLETED", "PARTIAL_SUCCESS", "FAILED", "CANCELLED")
FINISHED = (COMPLETED, PARTIAL_SUCCESS, FAILED, CANCELLED)
# Which process runs a job: host, pid and a random token (a restarted container can reuse a pid).
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
HEARTBEAT_SECONDS = 5
STALE_SECONDS = 30
PURGE_SECONDS = 600  # how often a worker thread deletes the files of jobs past the retention period


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
    delete_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    data_deleted: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Cancelled(Exception):
    pass


class QuotaExceeded(Exception):
    """A key has as many unfinished jobs as it may have."""


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
    """Stores jobs and runs them in ``threads`` background threads of this process.

    Args:
        files: Where job files live (encrypted).
        max_document_chars: Longest text a job record may have (longer records go to the errors manifest).
        max_unfinished_per_key: Jobs a key may have QUEUED or RUNNING at once (0: no limit).
        retention_seconds: Finished jobs' files are deleted this long after they finish (0: kept).
        batchers: The process's batchers: a job's batches run on the same model threads as requests.
    """

    def __init__(self, url: str, files: JobFiles, registry, threads: int = 1, poll_seconds: float = 0.5,
                 max_attempts: int = 3, max_document_chars: int = 1_000_000, max_unfinished_per_key: int = 0,
                 retention_seconds: float = 0, batchers: Batchers | None = None):
        self.engine = open_engine(url)
        self.files = files
        self.folder = files.folder
        self.registry = registry
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.max_document_chars = max_document_chars
        self.max_unfinished_per_key = max_unfinished_per_key
        self.retention_seconds = retention_seconds
        self.batchers = batchers or Batchers()
        self.stopping = threading.Event()
        self.recover()
        self.threads = [threading.Thread(target=self._work, name=f"clinnlp-job-{i}", daemon=True)
                        for i in range(threads)]
        self.threads.append(threading.Thread(target=self._beat, name="clinnlp-job-heartbeat", daemon=True))
        for thread in self.threads:
            thread.start()

    # -- the API's side ---------------------------------------------------------------------------
    def submit(self, key_id: str | None, options, suffix: str, name: str, fill) -> dict:
        """Store a new job's input and queue the job; returns its status.

        Args:
            options: The operation's resolved options (a :class:`service.options.Options`).
            suffix: The input's format (``.jsonl``, ``.csv``, ``.tsv``).
            name: The input's own name (an upload's file name), used for sources in the errors manifest.
            fill: Called with a binary stream to write the input to (it is encrypted as it is written).

        Raises:
            QuotaExceeded: The key has ``max_unfinished_per_key`` unfinished jobs already.
        """
        if self.max_unfinished_per_key and key_id is not None:
            with Session(self.engine) as session:
                unfinished = session.scalar(select(func.count()).select_from(Job).where(
                    Job.key_id == key_id, Job.status.in_((QUEUED, RUNNING))))
            if unfinished >= self.max_unfinished_per_key:
                raise QuotaExceeded(f"this key has {unfinished} unfinished jobs; the limit is "
                                    f"{self.max_unfinished_per_key}: wait for one to finish, or cancel one")
        job_id = uuid.uuid4().hex
        with self.files.input_writer(job_id, suffix) as sink:
            fill(sink)
        try:
            try:
                total = count_records(self.files.input_stream(job_id, suffix, name))
            except InputError:
                total = 0
            with Session(self.engine) as session:
                session.add(Job(id=job_id, key_id=key_id, operation=options.operation,
                                options=json.dumps({**options.model_dump(mode="json", exclude_none=True),
                                                    "source_name": name}),
                                input_name=f"input{suffix}", status=QUEUED, total=total, created=_now()))
                session.commit()
        except BaseException:
            self.files.delete(job_id)  # no files without their row
            raise
        return self.status(job_id, key_id)

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
                "attempts": job.attempts, "reason": job.reason,
                "data": {"available": job.data_deleted is None, "deleted": _iso(job.data_deleted),
                         "delete_after": _iso(self._delete_after(job))}}

    def list(self, key_id: str | None, limit: int = 100) -> list[dict]:
        """The statuses of a key's jobs, newest first (at most ``limit``)."""
        owner = Job.key_id.is_(None) if key_id is None else Job.key_id == key_id
        with Session(self.engine) as session:
            ids = list(session.scalars(select(Job.id).where(owner).order_by(Job.created.desc()).limit(limit)))
        return [status for job_id in ids if (status := self.status(job_id, key_id)) is not None]

    def _delete_after(self, job: Job) -> datetime | None:
        if job.data_deleted is not None or job.finished is None or not self.retention_seconds:
            return None
        return _aware(job.finished) + timedelta(seconds=self.retention_seconds)

    def cancel(self, job_id: str, key_id: str | None, delete: bool = False) -> dict | None:
        """Cancel a job (at once if queued, after its current batch if running); with ``delete``, also delete
        its files (at once if it is not running, else as soon as it stops)."""
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            if job is None or job.key_id != key_id:
                return None
            if job.status == QUEUED:
                job.status, job.finished, job.reason = CANCELLED, _now(), "cancelled before it started"
            elif job.status == RUNNING:
                job.cancel_requested = True
                job.delete_requested = job.delete_requested or delete
            if delete and job.status != RUNNING and job.data_deleted is None:
                self.files.delete(job_id)
                job.data_deleted = _now()
            session.commit()
        return self.status(job_id, key_id)

    def read(self, job_id: str, kind: str):
        """The decrypted results (``"results"``) or errors (``"errors"``) of a job, in blocks, with whether they
        are whole: a job that finished normally (completed, or partial success) has whole files; a running,
        failed or cancelled one has what was written so far."""
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            complete = job is not None and job.status in (COMPLETED, PARTIAL_SUCCESS)
        return self.files.chunks(job_id, kind, complete), complete

    def purge(self, older_than_seconds: float | None = None) -> int:
        """Delete the files of jobs that finished more than ``older_than_seconds`` ago (default: the retention
        period); their rows stay. Returns how many jobs were purged."""
        age = self.retention_seconds if older_than_seconds is None else older_than_seconds
        if not age and older_than_seconds is None:
            return 0
        cutoff = _now() - timedelta(seconds=age)
        purged = 0
        with Session(self.engine) as session:
            for job in session.scalars(select(Job).where(Job.status.in_(FINISHED), Job.data_deleted.is_(None),
                                                         Job.finished <= cutoff)):
                self.files.delete(job.id)
                job.data_deleted = _now()
                purged += 1
            session.commit()
        if purged:
            log.info("deleted the files of %d finished job(s) older than the retention period", purged)
        return purged

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
        """Claim the next job: the oldest queued job of the key with the fewest running jobs."""
        with Session(self.engine) as session:
            queued = session.execute(select(Job.id, Job.key_id).where(Job.status == QUEUED)
                                     .order_by(Job.created).limit(500)).all()
            if not queued:
                return None
            running = dict(session.execute(select(Job.key_id, func.count()).where(Job.status == RUNNING)
                                           .group_by(Job.key_id)).all())
            job_id = min(enumerate(queued), key=lambda item: (running.get(item[1].key_id, 0), item[0]))[1].id
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
        last_recovery = last_purge = 0.0
        while not self.stopping.is_set():
            try:
                if time.monotonic() - last_purge > PURGE_SECONDS:
                    self.purge()
                    last_purge = time.monotonic()
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

    def _records(self, job_id: str, input_name: str, source_name: str, fields: Fields = Fields()):
        """The job's records, decrypted as they are read; a record over the length limit is an error record.

        Args:
            fields: The record fields the operation reads (an analysis reads each record's ``terms``).
        """
        limit = self.max_document_chars
        for item in read_documents(self.files.input_stream(job_id, Path(input_name).suffix, source_name), fields):
            if isinstance(item, Document) and len(item.text) > limit:
                yield DocumentError(item.source, f"text has {len(item.text)} characters; the limit is {limit}",
                                    item.id)
            else:
                yield item

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
            writer = self.batchers.writer(chosen, self.registry)
            with self.files.output_writers(job_id) as (results, errors):
                records = self._records(job_id, input_name, source_name, getattr(writer, "fields", Fields()))
                processed, failed = process_records(writer, records, results, errors, progress=False,
                                                    on_batch=progress)
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
                if job.delete_requested and job.data_deleted is None:
                    self.files.delete(job_id)
                    job.data_deleted = _now()
                session.commit()


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _iso(moment: datetime | None) -> str | None:
    return _aware(moment).isoformat(timespec="seconds") if moment is not None else None
