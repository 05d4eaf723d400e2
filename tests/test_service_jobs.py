"""Batch jobs: accepted with 202, run in the background, results and manifest, cancel, restart recovery; each
on SQLite with job files in a folder, and on PostgreSQL with job files in the database."""

import io
import json
import time

import pytest

from service.app import create_app
from service.jobs import COMPLETED, FAILED, QUEUED, RUNNING, Job, JobManager
from service.registry import Registry
from tests.conftest import TEST_DATA_KEY
from tests.test_service import ABSTRACT, SECRET


@pytest.fixture(scope="module")
def registry():
    return Registry.load(("ohsumed-tfidf",), ("lead",))


def settings_for(tmp_path, database_url: str, **more) -> dict:
    # Job files in a folder beside SQLite, in the database beside PostgreSQL: both storages through every test.
    storage = "database" if database_url.startswith("postgresql") else "folder"
    return {"state_dir": str(tmp_path / "state"), "database": database_url, "job_storage": storage,
            "data_key": TEST_DATA_KEY, **more}


@pytest.fixture
def make_app(tmp_path, registry, database_url):
    """Apps with their own settings; their job threads (and heartbeats) stop after the test."""
    made = []

    def make(**settings):
        made.append(create_app(settings_for(tmp_path, database_url, **settings), registry=registry))
        return made[-1]

    yield make
    for app in made:
        app.extensions["clinnlp"].jobs.stop()


@pytest.fixture
def app(tmp_path, registry, database_url):
    app = create_app(settings_for(tmp_path, database_url), registry=registry)
    yield app
    app.extensions["clinnlp"].jobs.stop()


def client_for(app, name="tests"):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {app.extensions['clinnlp'].keys.create(name)[1]}"
    return client


@pytest.fixture
def client(app):
    return client_for(app)


def wait_finished(client, job_id, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        status = client.get(f"/v1/jobs/{job_id}").json
        if status["status"] not in (QUEUED, RUNNING):
            return status
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def results(client, job_id):
    return [json.loads(line) for line in client.get(f"/v1/jobs/{job_id}/results").data.decode().splitlines()]


def test_jobs_json_documents_complete(client):
    documents = [{"id": f"d{i}", "text": ABSTRACT} for i in range(300)]
    response = client.post("/v1/jobs", json={"operation": "classify", "model": "ohsumed-tfidf", "explain": False,
                                             "documents": documents})
    assert response.status_code == 202 and response.headers["Location"] == f"/v1/jobs/{response.json['id']}"
    assert response.json["status"] in (QUEUED, RUNNING) and response.json["progress"]["total"] == 300
    status = wait_finished(client, response.json["id"])
    assert status["status"] == COMPLETED and status["progress"] == {"total": 300, "processed": 300, "failed": 0}
    assert status["timings"]["started"] and status["timings"]["finished"]
    assert [r["id"] for r in results(client, response.json["id"])] == [f"d{i}" for i in range(300)]


def test_jobs_upload_with_bad_records_is_partial_success_with_a_manifest(client):
    lines = [json.dumps({"id": "ok", "text": ABSTRACT}), '{"id": "broken", "text": "' + SECRET + '"',
             json.dumps({"id": "empty", "text": " "})]
    upload = io.BytesIO(("\n".join(lines) + "\n").encode())
    response = client.post("/v1/jobs", data={"operation": "summarize", "method": "lead", "max_words": "10",
                                             "file": (upload, "notes.jsonl")}, content_type="multipart/form-data")
    assert response.status_code == 202
    status = wait_finished(client, response.json["id"])
    assert status["status"] == "PARTIAL_SUCCESS" and status["progress"]["failed"] == 2
    assert [r["id"] for r in results(client, response.json["id"])] == ["ok"]
    manifest = client.get(f"/v1/jobs/{response.json['id']}/errors").data.decode()
    assert [json.loads(line)["reason"].split(":")[0] for line in manifest.splitlines()] == ["malformed JSON",
                                                                                          "empty text"]
    assert SECRET not in manifest


def test_jobs_txt_and_csv_uploads(client):
    for name, content in (("note.txt", ABSTRACT), ("notes.csv", f'id,text\nc1,"{ABSTRACT}"\n')):
        response = client.post("/v1/jobs", data={"operation": "classify", "model": "ohsumed-tfidf",
                                                 "file": (io.BytesIO(content.encode()), name)},
                               content_type="multipart/form-data")
        assert response.status_code == 202, response.json
        assert wait_finished(client, response.json["id"])["status"] == COMPLETED
        [result] = results(client, response.json["id"])
        assert result["id"] == ("note" if name == "note.txt" else "c1") and result["label"] == "C14"


@pytest.mark.parametrize("body, status", [
    ({"operation": "translate", "documents": [{"text": "x"}]}, 422),
    ({"operation": "classify", "model": "", "documents": [{"text": "x"}]}, 422),
    ({"operation": "classify", "method": "lead", "documents": [{"text": "x"}]}, 422),
    ({"operation": "classify", "model": "nope", "documents": [{"text": "x"}]}, 404),
    ({"operation": "summarize", "method": "lead", "max_words": -3, "documents": [{"text": "x"}]}, 422),
    ({"operation": "summarize"}, 422),
])
def test_jobs_reject_bad_submissions(client, body, status):
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == status and response.json["error"]["code"]


def test_jobs_belong_to_their_key(app, client):
    response = client.post("/v1/jobs", json={"operation": "summarize", "method": "lead",
                                             "documents": [{"text": ABSTRACT}]})
    other = client_for(app, "someone else")
    job_id = response.json["id"]
    for method, path in (("get", ""), ("get", "/results"), ("get", "/errors"), ("delete", "")):
        assert getattr(other, method)(f"/v1/jobs/{job_id}{path}").status_code == 404
    assert client.get("/v1/jobs/0000").status_code == 404


def test_jobs_cancel_a_queued_job(make_app):
    app = make_app(job_threads=0)  # no runner
    client = client_for(app)
    job_id = client.post("/v1/jobs", json={"operation": "summarize", "method": "lead",
                                           "documents": [{"text": ABSTRACT}]}).json["id"]
    cancelled = client.delete(f"/v1/jobs/{job_id}").json
    assert cancelled["status"] == "CANCELLED" and cancelled["timings"]["finished"]


def test_jobs_found_running_after_a_crash_are_run_again(make_app, registry):
    from datetime import datetime, timedelta, timezone

    from sqlalchemy.orm import Session

    app = make_app(job_threads=0)
    client = client_for(app)
    job_id = client.post("/v1/jobs", json={"operation": "summarize", "method": "lead", "max_sentences": 1,
                                           "documents": [{"id": i, "text": ABSTRACT} for i in range(5)]}).json["id"]
    manager = app.extensions["clinnlp"].jobs
    with Session(manager.engine) as session:  # as a process that died mid-job leaves it
        job = session.get(Job, job_id)
        job.status, job.owner, job.attempts = RUNNING, "elsewhere:1:dead", 1
        job.heartbeat = datetime.now(timezone.utc) - timedelta(minutes=5)
        session.commit()
        key_id = job.key_id
    restarted = JobManager(manager.engine.url.render_as_string(hide_password=False), manager.files, registry)
    try:
        deadline = time.time() + 30
        while (status := restarted.status(job_id, key_id))["status"] != COMPLETED and time.time() < deadline:
            time.sleep(0.1)
        assert status["status"] == COMPLETED and status["attempts"] == 2
        chunks, complete = restarted.read(job_id, "results")
        assert complete and len(b"".join(chunks).splitlines()) == 5
    finally:
        restarted.stop()


def test_jobs_give_up_after_repeated_crashes(make_app):
    from sqlalchemy.orm import Session

    app = make_app(job_threads=0)
    client = client_for(app)
    job_id = client.post("/v1/jobs", json={"operation": "summarize", "method": "lead",
                                           "documents": [{"text": ABSTRACT}]}).json["id"]
    manager = app.extensions["clinnlp"].jobs
    with Session(manager.engine) as session:
        job = session.get(Job, job_id)
        job.status, job.owner, job.attempts, job.heartbeat = RUNNING, "elsewhere:1:dead", 3, None
        session.commit()
    manager.recover()
    status = client.get(f"/v1/jobs/{job_id}").json
    assert status["status"] == FAILED and "3 attempts" in status["reason"]
