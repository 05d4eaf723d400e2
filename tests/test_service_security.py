"""Hardening and patient privacy at rest: encrypted job files, deletion and retention, quotas and fair
scheduling, key scopes/expiry/rotation, OpenID Connect tokens, the hash-chained audit trail, headers, and
attacks that must leave nothing behind."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import pytest

from service.app import create_app
from service.encryption import DataKeys, DecryptionError, EncryptedWriter, new_key, open_encrypted
from tests.test_service_jobs import wait_finished

MARKER = "Zebulon Quixotewright MRN 4417-9981 lives at 12 Quince Lane"
TEXT = f"Patient {MARKER}. Coronary angioplasty after acute myocardial infarction; chest pain resolved."


@pytest.fixture(scope="module")
def registry():
    from service.registry import Registry

    return Registry.load(("ohsumed-tfidf",), ("lead",))


@pytest.fixture
def make_app(tmp_path, registry):
    apps = []

    def make(**config):
        app = create_app({"state_dir": str(tmp_path / "state"), **config}, registry=registry)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["clinnlp"].jobs.stop()


def client_with(app, scopes="*", expires=None):
    key = app.extensions["clinnlp"].keys.create("tests", scopes, expires)[1]
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def everything_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_no_readable_patient_text_anywhere_under_the_state_folder(make_app, tmp_path, caplog):
    app = make_app()
    client = client_with(app)
    with caplog.at_level(logging.DEBUG):
        by_json = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"id": "a", "text": TEXT}]})
        upload = io.BytesIO(json.dumps({"id": "b", "text": TEXT}).encode() + b"\n")
        by_upload = client.post("/v1/jobs", data={"operation": "summarize", "method": "lead",
                                                  "file": (upload, "notes.jsonl")}, content_type="multipart/form-data")
        for job in (by_json, by_upload):
            assert job.status_code == 202
            assert wait_finished(client, job.json["id"])["status"] == "COMPLETED"
        results = client.get(f"/v1/jobs/{by_upload.json['id']}/results")
    assert MARKER.split()[0] in results.get_data(as_text=True)  # the owner reads it back decrypted
    stored = everything_under(tmp_path / "state")
    for fragment in ("Zebulon", "Quixotewright", "4417-9981", "Quince", "angioplasty"):
        assert fragment.encode() not in stored, fragment  # inputs, results, database, audit log: none readable
    assert "Zebulon" not in caplog.text


def test_job_files_are_private_and_the_state_folder_too(make_app, tmp_path):
    app = make_app()
    client = client_with(app)
    job = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]})
    wait_finished(client, job.json["id"])
    state = tmp_path / "state"
    assert state.stat().st_mode & 0o777 == 0o700
    for path in state.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path  # nothing readable by group or others
    assert (state / "data-key").stat().st_mode & 0o777 == 0o600


def test_delete_removes_a_finished_jobs_files_and_keeps_its_record(make_app, tmp_path):
    app = make_app()
    client = client_with(app)
    job_id = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]}).json["id"]
    wait_finished(client, job_id)
    deleted = client.delete(f"/v1/jobs/{job_id}")
    assert deleted.status_code == 200 and deleted.json["data"]["available"] is False
    assert deleted.json["status"] == "COMPLETED" and deleted.json["progress"]["processed"] == 1
    assert not (tmp_path / "state" / "jobs" / job_id).exists()
    assert client.get(f"/v1/jobs/{job_id}/results").status_code == 410
    assert client.get(f"/v1/jobs/{job_id}").json["data"]["deleted"]


def test_delete_of_a_running_job_cancels_it_then_deletes_its_files(make_app, tmp_path):
    app = make_app()
    client = client_with(app)
    documents = [{"id": str(i), "text": TEXT} for i in range(4000)]
    job_id = client.post("/v1/jobs", json={"operation": "summarize", "method": "lead",
                                           "documents": documents}).json["id"]
    deadline = time.time() + 60
    while client.get(f"/v1/jobs/{job_id}").json["status"] == "QUEUED" and time.time() < deadline:
        time.sleep(0.05)
    client.delete(f"/v1/jobs/{job_id}")
    status = wait_finished(client, job_id)
    assert status["status"] in ("CANCELLED", "COMPLETED") and status["data"]["available"] is False
    assert not (tmp_path / "state" / "jobs" / job_id).exists()


def test_finished_jobs_files_are_purged_after_the_retention_period(make_app, tmp_path):
    from nlp.cli import main

    app = make_app(job_retention="2s")
    client = client_with(app)
    job_id = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]}).json["id"]
    status = wait_finished(client, job_id)
    assert status["data"]["delete_after"]
    jobs = app.extensions["clinnlp"].jobs
    assert jobs.purge() == 0  # not yet
    time.sleep(2.2)
    assert jobs.purge() == 1 and client.get(f"/v1/jobs/{job_id}").json["data"]["available"] is False
    second = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]}).json["id"]
    wait_finished(client, second)
    assert main(["jobs", "--state-dir", str(tmp_path / "state"), "purge", "--older-than", "0"]) == 0
    assert client.get(f"/v1/jobs/{second}/results").status_code == 410


def test_a_failed_job_says_its_results_are_incomplete_and_keeps_only_whole_lines(make_app, monkeypatch):
    import nlp.batch

    app = make_app()
    client = client_with(app)
    real = nlp.batch.run_batch
    calls = []

    def failing_after_the_first_batch(writer, batch):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real(writer, batch)

    monkeypatch.setattr(nlp.batch, "run_batch", failing_after_the_first_batch)
    documents = [{"id": str(i), "text": TEXT} for i in range(600)]  # three batches of 256
    job_id = client.post("/v1/jobs", json={"operation": "classify", "explain": False, "documents": documents}).json["id"]
    status = wait_finished(client, job_id)
    assert status["status"] == "FAILED" and status["reason"] == "the job failed (OSError)"
    answer = client.get(f"/v1/jobs/{job_id}/results")
    assert answer.headers["Clinnlp-Job-Status"] == "FAILED" and answer.headers["Clinnlp-Results-Complete"] == "false"
    lines = answer.get_data().splitlines()
    assert len(lines) == 256 and all(json.loads(line)["id"] for line in lines)
    monkeypatch.setattr(nlp.batch, "run_batch", real)
    done = client.post("/v1/jobs", json={"operation": "classify", "documents": documents[:3]}).json["id"]
    wait_finished(client, done)
    answer = client.get(f"/v1/jobs/{done}/results")
    assert answer.headers["Clinnlp-Results-Complete"] == "true" and answer.headers["Cache-Control"] == "no-store"
    assert "ETag" not in answer.headers


def test_encrypted_files_detect_tampering_truncation_and_foreign_keys(tmp_path):
    keys = DataKeys.parse(new_key())
    path = tmp_path / "f"
    with EncryptedWriter(path, keys, "job a results") as sink:
        sink.write(b"x" * 200_000)  # several chunks
    with open_encrypted(path, keys, "job a results") as reader:
        assert reader.read() == b"x" * 200_000
    with pytest.raises(DecryptionError):
        open_encrypted(path, keys, "job b results").read()  # moved to another job
    with pytest.raises(DecryptionError):
        open_encrypted(path, DataKeys.parse(new_key()), "job a results").read()  # another key
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    (tmp_path / "changed").write_bytes(bytes(data))
    with pytest.raises(DecryptionError):
        open_encrypted(tmp_path / "changed", keys, "job a results").read()
    (tmp_path / "cut").write_bytes(path.read_bytes()[:70_000])
    with pytest.raises(DecryptionError):
        open_encrypted(tmp_path / "cut", keys, "job a results").read()
    partial = open_encrypted(tmp_path / "cut", keys, "job a results", complete=False).read()
    assert partial == b"x" * 65_536  # a running job's results: every whole chunk, nothing else


def test_the_data_key_can_be_rotated_without_losing_old_jobs(make_app, tmp_path, monkeypatch):
    from nlp.cli import main

    old, new = new_key(), new_key()
    app = make_app(data_key=old)
    client = client_with(app)
    job_id = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]}).json["id"]
    wait_finished(client, job_id)
    app.extensions["clinnlp"].jobs.stop()
    rotated = make_app(data_key=f"{new},{old}")  # the new key first: it encrypts, both decrypt
    chunks, complete = rotated.extensions["clinnlp"].jobs.read(job_id, "results")
    assert complete and b"labels" in b"".join(chunks)  # the old job is still readable
    monkeypatch.setenv("CLINNLP_DATA_KEY", f"{new},{old}")
    assert main(["jobs", "--state-dir", str(tmp_path / "state"), "rekey"]) == 0
    files = rotated.extensions["clinnlp"].jobs.files
    only_new = DataKeys.parse(new)
    with open_encrypted(files.folder / job_id / "results.jsonl", only_new, f"clinnlp job {job_id} results") as reader:
        assert json.loads(reader.readline())["labels"]  # readable with the new key alone


def test_quotas_refuse_with_429_and_retry_after(make_app):
    app = make_app(job_threads=0, max_unfinished_jobs=2, rate_limit=0)
    client = client_with(app)
    for _ in range(2):
        assert client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]}).status_code == 202
    third = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]})
    assert third.status_code == 429 and int(third.headers["Retry-After"]) >= 1
    limited = client_with(make_app(job_threads=0, rate_limit=3))
    answers = [limited.get("/v1/models").status_code for _ in range(5)]
    assert answers[:3] == [200, 200, 200] and answers[3] == 429
    assert int(limited.get("/v1/models").headers["Retry-After"]) >= 1


def test_job_records_over_the_length_limit_go_to_the_errors_manifest(make_app):
    app = make_app(max_document_chars=200)
    client = client_with(app)
    job_id = client.post("/v1/jobs", json={"operation": "classify", "documents": [
        {"id": "short", "text": "Asthma in children."}, {"id": "long", "text": "word " * 100}]}).json["id"]
    assert wait_finished(client, job_id)["status"] == "PARTIAL_SUCCESS"
    [error] = [json.loads(line) for line in client.get(f"/v1/jobs/{job_id}/errors").get_data().splitlines()]
    assert error["id"] == "long" and "500 characters; the limit is 200" in error["reason"]


def test_jobs_take_turns_between_keys(make_app):
    app = make_app(job_threads=0, rate_limit=0)
    busy, other = client_with(app), client_with(app)
    first = [busy.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]}).json["id"]
             for _ in range(3)]
    late = other.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]}).json["id"]
    manager = app.extensions["clinnlp"].jobs
    assert manager._claim() == first[0]  # both keys idle: the oldest
    assert manager._claim() == late  # the busy key has one running: the other key goes first


def test_key_scopes_expiry_last_use_and_rotation(make_app):
    app = make_app(rate_limit=0)
    store = app.extensions["clinnlp"].keys
    only_classify = client_with(app, scopes="classify")
    body = {"documents": [{"text": "Asthma in children."}]}
    assert only_classify.post("/v1/classify", json=body).status_code == 200
    refused = only_classify.post("/v1/summarize", json=body)
    assert refused.status_code == 403 and refused.json["error"]["details"]["scope"] == "summarize"
    assert only_classify.get("/v1/jobs/x").status_code == 403
    assert only_classify.post("/v1/admin/purge").status_code == 403
    admin = client_with(app, scopes="admin")
    assert admin.post("/v1/admin/purge").json == {"purged": 0}
    assert client_with(app).post("/v1/admin/purge").status_code == 403  # * is not admin
    short = client_with(app, expires=1)
    assert short.get("/v1/models").status_code == 200
    time.sleep(1.2)
    assert short.get("/v1/models").status_code == 401
    assert any(k["last_used"] for k in store.list())
    key_id, key = store.create("rotating", "classify")
    new_id, new = store.rotate(key_id, grace_seconds=1)
    for credential in (key, new):
        assert store.check(credential) is not None  # both work during the grace period
    time.sleep(1.2)
    assert store.check(key) is None and store.check(new).scopes == frozenset({"classify"})


def test_openid_connect_tokens(make_app, tmp_path):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    app = make_app(oidc_issuer="https://idp.hospital.test", oidc_audience="clinnlp",
                   oidc_jwks=str(tmp_path / "jwks.json"), rate_limit=0)

    def token(**claims):
        payload = {"iss": "https://idp.hospital.test", "aud": "clinnlp", "sub": "dr.who", "exp": time.time() + 300,
                   "scope": "clinnlp:classify clinnlp:jobs", **claims}
        return jwt.encode(payload, private, algorithm="RS256", headers={"kid": "k1"})

    client = app.test_client()
    body = {"documents": [{"text": "Asthma in children."}]}

    def post(path, credential):
        return client.post(path, json=body, headers={"Authorization": f"Bearer {credential}"})

    assert post("/v1/classify", token()).status_code == 200
    assert post("/v1/summarize", token()).status_code == 403
    for bad in (token(aud="someone-else"), token(iss="https://evil.test"), token(exp=time.time() - 100),
                token()[:-4] + "AAAA", jwt.encode({"sub": "x"}, "secret", algorithm="HS256")):
        assert post("/v1/classify", bad).status_code == 401
    audit = [json.loads(line) for line in app.extensions["clinnlp"].settings.audit_path.read_text().splitlines()]
    assert any(entry["subject"] == "dr.who" and entry["status"] == 200 for entry in audit)


def test_audit_trail_records_who_read_what_and_detects_tampering(make_app, tmp_path):
    from nlp.cli import main
    from service.observability import verify_audit

    app = make_app(audit_max_bytes=2000, rate_limit=0)
    client = client_with(app)
    job_id = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]}).json["id"]
    wait_finished(client, job_id)
    client.get(f"/v1/jobs/{job_id}/results")
    for _ in range(12):
        client.get("/v1/models")
    path = app.extensions["clinnlp"].settings.audit_path
    assert len(app.extensions["clinnlp"].audit.rotated()) >= 1  # rotated by size, the chain goes on
    entries = [json.loads(line) for p in [*app.extensions["clinnlp"].audit.rotated(), path]
               for line in p.read_text().splitlines()]
    read = [e for e in entries if e["endpoint"] == "/v1/jobs/<job_id>/results"]
    assert read and read[0]["resource"] == job_id and read[0]["key_id"] and read[0]["address"] == "127.0.0.1"
    assert verify_audit(path)["ok"] and main(["audit", "--state-dir", str(tmp_path / "state"), "verify"]) == 0
    lines = path.read_text().splitlines()
    changed = json.loads(lines[0])
    changed["status"] = 200 if changed["status"] != 200 else 404
    path.write_text("\n".join([json.dumps(changed)] + lines[1:]) + "\n")
    assert not verify_audit(path)["ok"] and main(["audit", "--state-dir", str(tmp_path / "state"), "verify"]) == 1


def test_failed_authentication_is_logged_once_a_minute_per_address(make_app):
    app = make_app()
    client = app.test_client()
    for _ in range(20):
        assert client.get("/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401
    audit = app.extensions["clinnlp"].settings.audit_path.read_text().splitlines()
    assert len([line for line in audit if '"status": 401' in line]) == 1


def test_headers_metrics_labels_and_docs_policy(make_app):
    app = make_app()
    client = client_with(app)
    answer = client.get("/v1/models")
    assert answer.headers["X-Content-Type-Options"] == "nosniff" and answer.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    docs = client.get("/docs")
    assert "style-src 'sha256-" in docs.headers["Content-Security-Policy"] and "script" not in docs.get_data(as_text=True)
    client.open("/v1/models", method="BREW")
    assert 'method="BREW"' not in client.get("/metrics").get_data(as_text=True)


def test_a_csv_header_that_is_patient_text_never_reaches_an_error_the_database_or_a_log(make_app, tmp_path, caplog):
    app = make_app()
    client = client_with(app)
    csv_without_header = f"{MARKER},Coronary angioplasty\nsecond,row\n".encode()
    with caplog.at_level(logging.DEBUG):
        sync = client.post("/v1/classify", data={"file": (io.BytesIO(csv_without_header), "notes.csv")},
                           content_type="multipart/form-data")
        job = client.post("/v1/jobs", data={"operation": "classify", "file": (io.BytesIO(csv_without_header),
                                                                                "notes.csv")},
                          content_type="multipart/form-data")
        status = wait_finished(client, job.json["id"])
    assert sync.status_code == 422 and "Zebulon" not in sync.get_data(as_text=True)
    assert status["status"] == "FAILED" and "missing column" in status["reason"] and "Zebulon" not in status["reason"]
    assert b"Zebulon" not in everything_under(tmp_path / "state") and "Zebulon" not in caplog.text


def test_a_full_disk_while_storing_a_job_leaves_nothing_and_answers_503(make_app, tmp_path, monkeypatch):
    app = make_app()
    client = client_with(app)

    def full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(EncryptedWriter, "write", full)
    answer = client.post("/v1/jobs", json={"operation": "classify", "documents": [{"text": TEXT}]})
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert list((tmp_path / "state" / "jobs").iterdir()) == []
