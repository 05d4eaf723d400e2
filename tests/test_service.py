"""The Flask API through its test client: every endpoint, every error status, and no text in any log."""

import json
import logging

import pytest

from service.app import create_app
from service.registry import Registry

SECRET = "Jane Roe, MRN 998877, HIV positive, lives at 12 Elm Street"
ABSTRACT = ("Coronary angioplasty after acute myocardial infarction. Patients with chest pain were assigned to "
            "angioplasty or thrombolysis. Reinfarction was lower after angioplasty.")


@pytest.fixture(scope="module")
def registry():
    return Registry.load(("ohsumed-tfidf", "mtsamples-tfidf"), ("extractive", "lead"))


@pytest.fixture
def app(tmp_path, registry):
    app = create_app({"state_dir": str(tmp_path / "state"), "max_documents": 3, "max_document_chars": 2000,
                       "max_request_bytes": 50_000}, registry=registry)
    yield app
    app.extensions["clinnlp"].jobs.stop()


@pytest.fixture
def key(app):
    return app.extensions["clinnlp"].keys.create("tests")[1]


@pytest.fixture
def client(app, key):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def classify_body(text=ABSTRACT, **extra):
    return {"model": "ohsumed-tfidf", "documents": [{"id": "d1", "text": text}], **extra}


def test_service_classify_json(client):
    response = client.post("/v1/classify", json=classify_body())
    assert response.status_code == 200
    body = response.json
    assert body["model"]["name"] == "ohsumed-tfidf" and body["model"]["version"]
    [result] = body["results"]
    assert result["id"] == "d1" and result["label"] == "C14"
    assert abs(sum(result["scores"].values()) - 1) < 1e-3
    span = result["explanation"][0]["spans"][0]
    assert ABSTRACT[span[0]:span[1]].lower().startswith(result["explanation"][0]["term"].split()[0])


def test_service_default_model_is_a_clinical_notes_model_whatever_else_is_loaded(tmp_path):
    # hoc-tfidf sorts first by name; a request without a model still gets the notes model, as before it existed.
    registry = Registry.load(("hoc-tfidf", "mtsamples-tfidf"), ())
    app = create_app({"state_dir": str(tmp_path), "auth": False}, registry=registry)
    try:
        response = app.test_client().post("/v1/classify", json={"documents": [{"id": "1", "text": "Cholecystectomy."}]})
        assert response.status_code == 200 and response.json["model"]["name"] == "mtsamples-tfidf"
    finally:
        app.extensions["clinnlp"].jobs.stop()


def test_service_classify_text_plain_and_no_explanation(client):
    response = client.post("/v1/classify?model=mtsamples-tfidf&explain=false", data="Laparoscopic cholecystectomy. "
                           "The gallbladder was removed.", content_type="text/plain")
    assert response.status_code == 200
    [result] = response.json["results"]
    assert "Gastroenterology" in result["labels"] and "explanation" not in result


def test_service_summarize(client):
    response = client.post("/v1/summarize", json={"documents": [{"id": 7, "text": ABSTRACT}], "max_words": 12,
                                                  "method": "lead"})
    assert response.status_code == 200
    [result] = response.json["results"]
    assert result["id"] == "7" and 0 < len(result["summary"].split()) <= 12
    for sentence in result["sentences"]:
        assert ABSTRACT[sentence["start"]:sentence["end"]] == sentence["text"]


def test_service_models(client):
    listing = client.get("/v1/models").json
    assert {m["name"] for m in listing["classifiers"]} == {"ohsumed-tfidf", "mtsamples-tfidf"}
    assert listing["summarizers"] == ["extractive", "lead"]
    detail = client.get("/v1/models/ohsumed-tfidf").json
    assert detail["task"] == "single_label" and len(detail["labels"]) == 23 and detail["dev_metrics"]["accuracy"]


def test_service_health_ready_metrics(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    client.post("/v1/classify", json=classify_body())
    metrics = client.get("/metrics").data.decode()
    assert 'clinnlp_requests_total{endpoint="/v1/classify",method="POST",status="200"} 1.0' in metrics
    assert f'clinnlp_characters_total{{endpoint="/v1/classify"}} {float(len(ABSTRACT))}' in metrics
    assert "clinnlp_request_seconds_bucket" in metrics


@pytest.mark.parametrize("method, path, kwargs, status, code", [
    ("post", "/v1/classify", {"data": b"{not json", "content_type": "application/json"}, 400, "bad_request"),
    ("post", "/v1/classify", {"data": b'{"model": "caf\xe9"}', "content_type": "application/json"}, 400, "bad_request"),
    ("post", "/v1/summarize", {"data": b"caf\xe9", "content_type": "text/plain"}, 400, "bad_request"),
    ("post", "/v1/classify", {"json": {**classify_body(), "model": "nope"}}, 404, "not_found"),
    ("get", "/v1/models/nope", {}, 404, "not_found"),
    ("get", "/v1/nothing-here", {}, 404, "not_found"),
    ("delete", "/v1/classify", {}, 405, "method_not_allowed"),
    ("post", "/v1/classify", {"json": {"model": "ohsumed-tfidf",
                                       "documents": [{"text": "a b"}] * 4}}, 413, "too_large"),
    ("post", "/v1/classify", {"json": classify_body("x " * 1001)}, 413, "too_large"),
    ("post", "/v1/classify", {"data": b"x" * 60_000, "content_type": "text/plain"}, 413, "too_large"),
    ("post", "/v1/classify", {"data": b"x", "content_type": "image/png"}, 415, "unsupported_media_type"),
    ("post", "/v1/classify", {"json": classify_body("   ")}, 422, "invalid"),
    ("post", "/v1/classify", {"json": {"model": "ohsumed-tfidf"}}, 422, "invalid"),
    ("post", "/v1/classify", {"json": {"model": "", "documents": [{"text": "a b"}]}}, 422, "invalid"),
    ("post", "/v1/classify", {"json": [1, 2]}, 422, "invalid"),
    ("post", "/v1/classify", {"json": classify_body(explain="maybe")}, 422, "invalid"),
    ("post", "/v1/classify", {"json": {"model": "ohsumed-tfidf", "documents": [{"text": 5}]}}, 422, "invalid"),
    ("post", "/v1/summarize", {"json": {"documents": [{"text": "a b"}], "method": "gpt"}}, 422, "invalid"),
    ("post", "/v1/summarize", {"json": {"documents": [{"text": "a b"}], "max_words": 0}}, 422, "invalid"),
    ("post", "/v1/summarize", {"json": {"documents": [{"text": "a b"}], "max_sentences": "x"}}, 422, "invalid"),
    ("post", "/v1/summarize", {"json": {"documents": [{"text": "a b"}], "sections": ["vibes"]}}, 422, "invalid"),
])
def test_service_errors_are_json_with_the_right_status(client, method, path, kwargs, status, code):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert set(response.json["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer cnlp_0000_xyz"])
def test_service_requires_a_valid_key(app, header):
    client = app.test_client()
    headers = {"Authorization": header} if header else {}
    response = client.post("/v1/classify", json=classify_body(), headers=headers)
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    assert client.get("/healthz").status_code == 200  # probes need no key


def test_service_revoked_key_is_refused(app, key):
    store = app.extensions["clinnlp"].keys
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/models", headers=headers).status_code == 200
    assert store.revoke(key.split("_")[1])
    assert client.get("/v1/models", headers=headers).status_code == 401


def test_service_stores_only_key_hashes(app, key):
    import hashlib

    database = app.extensions["clinnlp"].settings.database_url.removeprefix("sqlite:///")
    stored = open(database, "rb").read()
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored
    assert key.encode() not in stored and key.split("_", 2)[2].encode() not in stored


def test_service_auth_can_be_turned_off_for_development(tmp_path, registry, caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app({"state_dir": str(tmp_path), "auth": False}, registry=registry)
    assert "AUTHENTICATION IS OFF" in caplog.text
    assert app.test_client().get("/v1/models").status_code == 200


def test_service_never_logs_or_echoes_patient_text(app, client, caplog, tmp_path):
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/classify", json=classify_body(SECRET))
        client.post("/v1/summarize", json={"documents": [{"text": SECRET}]})
        bad = client.post("/v1/summarize", json={"documents": [{"text": SECRET}], "max_words": -1})
        too_long = client.post("/v1/classify", json=classify_body(SECRET * 100))
    audit = app.extensions["clinnlp"].settings.audit_path.read_text()
    assert audit.count("\n") == 4
    records = [json.loads(line) for line in audit.splitlines()]
    assert {r["status"] for r in records} == {200, 422, 413}
    assert all(r["key_id"] for r in records)
    for where in (audit, caplog.text, bad.get_data(as_text=True), too_long.get_data(as_text=True)):
        assert "Jane Roe" not in where and "998877" not in where


def fhir_reference(doc_id, *texts, content_type="text/plain"):
    import base64

    return {"resourceType": "DocumentReference", "id": doc_id, "status": "current",
            "content": [{"attachment": {"contentType": content_type, "data": base64.b64encode(t.encode()).decode()}}
                        for t in texts]}


def test_service_fhir_document_reference_and_bundle(client):
    response = client.post("/v1/classify?model=ohsumed-tfidf&explain=false", json=fhir_reference("n1", ABSTRACT),
                           content_type="application/fhir+json")
    assert response.status_code == 200 and response.json["results"][0]["id"] == "n1"
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": fhir_reference("a", ABSTRACT)}, {"resource": fhir_reference("b", "One. Two.")}]}
    response = client.post("/v1/summarize?method=lead&max_sentences=1", json=bundle)
    assert response.status_code == 200
    assert [(r["id"], r["summary"]) for r in response.json["results"]][1] == ("b", "One.")


@pytest.mark.parametrize("resource, status", [
    ({"resourceType": "DocumentReference", "id": "x", "status": "nonsense", "content": []}, 422),
    (fhir_reference("x", "a note", content_type="application/pdf"), 422),
    ({"resourceType": "Bundle", "type": "collection", "entry": []}, 422),
])
def test_service_fhir_errors(client, resource, status):
    response = client.post("/v1/classify?model=ohsumed-tfidf", json=resource)
    assert response.status_code == status and "error" in response.json


def test_service_multipart_upload(client):
    import io

    upload = io.BytesIO(f'id,text\nu1,"{ABSTRACT}"\n'.encode())
    response = client.post("/v1/classify", data={"model": "ohsumed-tfidf", "file": (upload, "notes.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.json["results"][0]["id"] == "u1"
    bad = io.BytesIO(b'{"id": "1", "text": ""}\n')
    response = client.post("/v1/classify", data={"model": "ohsumed-tfidf", "file": (bad, "notes.jsonl")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and response.json["error"]["details"]["records"][0]["reason"] == "empty text"
    response = client.post("/v1/classify", data={"model": "ohsumed-tfidf", "file": (io.BytesIO(b"x"), "a.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 415


def test_service_sheds_load_with_503(tmp_path, registry, key):
    app = create_app({"state_dir": str(tmp_path), "max_in_flight": 1, "auth": False}, registry=registry)
    client = app.test_client()
    import threading

    gate, entered = threading.Event(), threading.Event()
    lead = registry.summarizers["lead"]
    original = lead.summarize

    def slow(*args, **kwargs):
        entered.set()  # the first request holds its slot now
        gate.wait(10)
        return original(*args, **kwargs)

    lead.summarize = slow
    try:
        first = threading.Thread(target=lambda: client.post("/v1/summarize", json={
            "method": "lead", "documents": [{"text": "One. Two."}]}))
        first.start()
        assert entered.wait(10)
        busy = client.post("/v1/summarize", json={"method": "lead", "documents": [{"text": "One. Two."}]})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json["error"]["code"] == "unavailable"
    finally:
        gate.set()
        first.join()
        lead.summarize = original
        app.extensions["clinnlp"].jobs.stop()
    assert client.post("/v1/summarize", json={"method": "lead", "documents": [{"text": "One."}]}).status_code == 200


def test_service_database_url_is_configurable(tmp_path, registry):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    app = create_app({"state_dir": str(tmp_path / "state"), "database": url}, registry=registry)
    try:
        key = app.extensions["clinnlp"].keys.create("db")[1]
        response = app.test_client().post("/v1/jobs", json={"operation": "summarize", "method": "lead",
                                                            "documents": [{"text": "One. Two."}]},
                                          headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 202
        assert (tmp_path / "elsewhere.db").stat().st_size > 0
        assert not (tmp_path / "state" / "service.db").exists()
    finally:
        app.extensions["clinnlp"].jobs.stop()


@pytest.mark.parametrize("variable, value", [("CLINNLP_AUTH", "enabled"), ("CLINNLP_AUTH", "ture"),
                                             ("CLINNLP_MAX_DOCUMENTS", "lots")])
def test_service_refuses_to_start_on_a_setting_it_cannot_read(monkeypatch, variable, value):
    from service.config import Settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        Settings.load()


def test_service_cli_refuses_a_mistyped_auth_switch_instead_of_turning_auth_off(tmp_path):
    import os
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "nlp.cli", "serve", "--port", "1"], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "CLINNLP_AUTH": "enabled"}, timeout=120)
    assert run.returncode == 2 and "CLINNLP_AUTH" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "var").exists()


def test_library_never_imports_the_service():
    """`nlp/` is the library: the service stands on it, never the reverse (its commands join through an entry point)."""
    import ast
    from pathlib import Path

    import nlp

    offenders = []
    for path in Path(nlp.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "service"]
    assert offenders == []
