"""The key store, the job store and their migrations, on SQLite and on a real PostgreSQL server."""

import hashlib
import json
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.database import current_revision, head_revision, open_engine, schema_differences, upgrade
from service.jobs import COMPLETED, QUEUED, RUNNING, Job, JobManager
from service.keys import ApiKey, KeyStore
from service.encryption import DataKeys
from service.options import SummarizeOptions
from service.storage import DatabaseJobFiles, JobFiles
from service.registry import Registry
from tests.conftest import TEST_DATA_KEY
from tests.test_service import ABSTRACT


@pytest.fixture(scope="module")
def registry():
    return Registry.load(("ohsumed-tfidf",), ("lead",))



def wait_completed(manager, job_id: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while manager.status(job_id, "k1")["status"] != COMPLETED:
        assert time.time() < deadline
        time.sleep(0.1)


def test_key_store_creates_checks_and_revokes(database_url):
    store = KeyStore(database_url)
    key_id, key = store.create("ward 7")
    assert store.check(key).id == key_id
    assert store.check(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # same id, wrong secret
    assert store.check(f"cnlp_{key_id}") is None and store.check("cnlp_ffffffff_x") is None
    assert [k["name"] for k in store.list()] == ["ward 7"] and key not in json.dumps(store.list())
    assert store.revoke(key_id) and store.check(key) is None
    assert not store.revoke("nosuchid")


def test_keys_made_through_one_store_are_seen_by_another(database_url):
    """Two processes (here two engines with their own connection pools) share keys through the database."""
    first, second = KeyStore(database_url), KeyStore(database_url)
    key_id, key = first.create("made by the first")
    assert second.check(key).id == key_id
    second.revoke(key_id)
    assert first.check(key) is None


def storage(kind: str, url: str, folder):
    keys = DataKeys.parse(TEST_DATA_KEY)
    return JobFiles(folder, keys) if kind == "folder" else DatabaseJobFiles(open_engine(url), keys)


def submit(manager: JobManager, number: int) -> str:
    lines = "".join(json.dumps({"id": f"{number}-{i}", "text": ABSTRACT}) + "\n" for i in range(20)).encode()
    options = SummarizeOptions(method="lead", max_sentences=1)
    return manager.submit("k1", options, ".jsonl", f"upload-{number}.jsonl", lambda sink: sink.write(lines))["id"]


def results(manager: JobManager, job_id: str) -> bytes:
    return b"".join(manager.files.chunks(job_id, "results", complete=True))


@pytest.mark.parametrize("kind", ["folder", "database"])
def test_two_job_runners_on_one_database_run_every_job_once(database_url, tmp_path, registry, kind):
    # Folder storage: one folder, as a volume both replicas mount; database storage: nothing else shared.
    first = JobManager(database_url, storage(kind, database_url, tmp_path / "jobs"), registry, threads=2,
                       poll_seconds=0.05)
    second = JobManager(database_url, storage(kind, database_url, tmp_path / "jobs"), registry, threads=2,
                        poll_seconds=0.05)
    try:
        ids = [submit(first if n % 2 else second, n) for n in range(24)]
        deadline = time.time() + 120
        while any(first.status(i, "k1")["status"] in (QUEUED, RUNNING) for i in ids):
            assert time.time() < deadline
            time.sleep(0.1)
    finally:
        first.stop()
        second.stop()
    with Session(first.engine) as session:
        jobs = session.scalars(sa.select(Job).where(Job.id.in_(ids))).all()
    assert {job.status for job in jobs} == {COMPLETED} and {job.attempts for job in jobs} == {1}
    for job_id in ids:
        lines = results(second, job_id).splitlines()
        assert len(lines) == 20 and len({json.loads(line)["id"] for line in lines}) == 20


def test_job_store_cancels_and_recovers(database_url, tmp_path, registry):
    manager = JobManager(database_url, storage("folder", database_url, tmp_path / "jobs"), registry, threads=0)
    try:
        queued, running = submit(manager, 1), submit(manager, 2)
        assert manager.cancel(queued, "k1")["status"] == "CANCELLED"
        assert manager.cancel(queued, "someone else") is None
        with Session(manager.engine) as session:  # as a process that died mid-job leaves it
            job = session.get(Job, running)
            job.status, job.owner, job.attempts, job.heartbeat = RUNNING, "elsewhere:1:gone", 1, None
            session.commit()
        manager.recover()
        assert manager.status(running, "k1")["status"] == QUEUED
    finally:
        manager.stop()


# The tables as commit eb5431a created them with create_all (before migrations): a keys-only database is what
# `clinnlp keys create` made on a fresh state folder.
def _pre_migration_tables(metadata: sa.MetaData) -> None:
    sa.Table("api_keys", metadata,
             sa.Column("id", sa.String(16), primary_key=True), sa.Column("name", sa.String(200), nullable=False),
             sa.Column("key_hash", sa.String(64), nullable=False),
             sa.Column("created", sa.DateTime(timezone=True), nullable=False),
             sa.Column("revoked", sa.Boolean(), nullable=False))


def test_a_database_made_before_migrations_opens_in_the_upgraded_service(database_url):
    old = sa.create_engine(database_url)
    metadata = sa.MetaData()
    _pre_migration_tables(metadata)
    metadata.create_all(old)
    key_id, key = "0ld0ke1d", "cnlp_0ld0ke1d_" + "s" * 43  # the old release's row, as it wrote it
    with old.begin() as connection:
        connection.execute(sa.text("INSERT INTO api_keys (id, name, key_hash, created, revoked) VALUES "
                                   "(:id, 'from the old release', :hash, :now, :no)"),
                           {"id": key_id, "hash": hashlib.sha256(key.encode()).hexdigest(),
                            "now": datetime.now(timezone.utc), "no": False})
    assert current_revision(old) is None
    old.dispose()

    store = KeyStore(database_url)
    principal = store.check(key)
    assert principal.id == key_id and "classify" in principal.scopes or "*" in principal.scopes
    assert current_revision(store.engine) == head_revision()
    assert schema_differences(store.engine) == []


def test_a_database_at_the_baseline_is_upgraded_to_head_and_used(database_url, tmp_path, registry):
    engine = sa.create_engine(database_url)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    with Session(engine) as session:  # rows written at the baseline schema
        session.execute(sa.text(
            "INSERT INTO api_keys (id, name, key_hash, created, revoked) VALUES ('abcd0123', 'old', :hash, "
            ":now, :no)"), {"hash": "0" * 64, "now": "2026-01-01 00:00:00+00:00", "no": False})
        session.commit()
    engine.dispose()

    manager = JobManager(database_url, storage("folder", database_url, tmp_path / "jobs"), registry, threads=1,
                         poll_seconds=0.05)
    try:
        assert current_revision(manager.engine) == head_revision() and schema_differences(manager.engine) == []
        job_id = submit(manager, 7)
        wait_completed(manager, job_id)
    finally:
        manager.stop()
    with Session(manager.engine) as session:
        assert session.get(ApiKey, "abcd0123").name == "old"


def test_processes_starting_together_migrate_one_at_a_time(database_url):
    """Gunicorn workers and replicas start at once on an empty database: none may fail creating tables."""
    code = ("import sys; from service.database import open_engine, current_revision; "
            "print(current_revision(open_engine(sys.argv[1])))")
    processes = [subprocess.Popen([sys.executable, "-c", code, database_url], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err[-800:] for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {head_revision()}


def test_migrations_create_exactly_the_tables_in_the_code(database_url):
    engine = open_engine(database_url)
    assert schema_differences(engine) == []


def test_job_files_in_the_database_are_encrypted_and_need_the_key(database_url, tmp_path, registry):
    from service.config import Settings
    from service.encryption import DecryptionError
    from service.storage import JobFileChunk, job_files

    with pytest.raises(ValueError, match="CLINNLP_DATA_KEY"):
        job_files(Settings(state_dir=str(tmp_path), database=database_url, job_storage="database"))
    with pytest.raises(ValueError, match="unknown job storage"):
        job_files(Settings(state_dir=str(tmp_path), database=database_url, job_storage="s3"))
    manager = JobManager(database_url, storage("database", database_url, tmp_path), registry, threads=1,
                         poll_seconds=0.05)
    try:
        job_id = submit(manager, 3)
        wait_completed(manager, job_id)
    finally:
        manager.stop()
    with Session(manager.engine) as session:
        stored = b"".join(session.scalars(sa.select(JobFileChunk.data).where(JobFileChunk.job_id == job_id)))
        names = set(session.scalars(sa.select(JobFileChunk.name).where(JobFileChunk.job_id == job_id)))
    assert names == {"input.jsonl", "results.jsonl", "errors.jsonl"}  # the partial files were renamed
    assert stored and b"angioplasty" not in stored.lower() and b'"id"' not in stored  # no text, no JSON in clear
    assert b"angioplasty" in results(manager, job_id).lower()  # the summaries, read back with the key
    other = DatabaseJobFiles(manager.engine, DataKeys.parse("b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMDE="))
    with pytest.raises(DecryptionError):
        b"".join(other.chunks(job_id, "results", complete=True))
    assert manager.files.delete(job_id) and not manager.files.has_data(job_id)
