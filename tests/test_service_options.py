"""Where options come from: one rule for every input kind (JSON, text/plain, FHIR, upload, jobs), unknown fields
refused, and the service run the way `make serve` runs it (state folder relative to the working directory)."""

import base64
import io
import json

import pytest

from service.app import create_app
from tests.test_service import ABSTRACT
from tests.test_service_jobs import client_for, results, wait_finished

NOTE = "Laparoscopic cholecystectomy. The gallbladder was removed for cholelithiasis."


@pytest.fixture(scope="module")
def registry():
    from service.registry import Registry

    return Registry.load(("ohsumed-tfidf", "mtsamples-tfidf"), ("lead",))


def fhir(text):
    return {"resourceType": "DocumentReference", "id": "f1", "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}]}


def send(client, kind, query="", form=None, text=NOTE):
    """A classify request of one input kind, with options in the query string (and the form, for uploads)."""
    path = f"/v1/classify{query}"
    if kind == "json":
        return client.post(path, json={"documents": [{"id": "n1", "text": text}]})
    if kind == "text":
        return client.post(path, data=text, content_type="text/plain")
    if kind == "fhir":
        return client.post(path, json=fhir(text), content_type="application/fhir+json")
    upload = io.BytesIO(json.dumps({"id": "n1", "text": text}).encode() + b"\n")
    return client.post(path, data={**(form or {}), "file": (upload, "notes.jsonl")}, content_type="multipart/form-data")


KINDS = ["json", "text", "fhir", "upload"]


def test_a_model_in_the_folder_that_is_not_served_gets_a_404_that_says_how_to_serve_it(client):
    """This module's service loads two models; ohsumed-ensemble-mpnet (trained --not-served-by-default) and
    ohsumed-ensemble are in the models folder all the same."""
    for name in ("ohsumed-ensemble-mpnet", "ohsumed-ensemble"):
        for response in (send(client, "json", f"?model={name}"), client.get(f"/v1/models/{name}")):
            assert response.status_code == 404
            assert "name it in CLINNLP_CLASSIFIERS" in response.json["error"]["message"]
    missing = send(client, "json", "?model=nosuch")
    assert missing.json["error"]["message"] == "no model 'nosuch'"


@pytest.mark.parametrize("kind", KINDS)
def test_options_in_the_query_string_apply_to_every_input_kind(client, kind):
    response = send(client, kind, "?model=mtsamples-tfidf&explain=false")
    assert response.status_code == 200, response.json
    assert response.json["model"]["name"] == "mtsamples-tfidf"
    assert "explanation" not in response.json["results"][0]
    missing = send(client, kind, "?model=nosuch")
    assert missing.status_code == 404 and missing.json["error"]["details"]["models"]


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_options_are_refused_for_every_input_kind(client, kind):
    response = send(client, kind, "?explian=false")
    assert response.status_code == 422
    assert "explian" in response.json["error"]["message"] and response.json["error"]["details"]["fields"] == ["explian"]


def test_unknown_fields_of_a_json_body_and_a_form_are_refused(client):
    response = client.post("/v1/classify", json={"explian": False, "documents": [{"text": NOTE}]})
    assert response.status_code == 422 and response.json["error"]["details"]["fields"] == ["explian"]
    assert "known: model, explain" in response.json["error"]["message"]
    response = send(client, "upload", form={"modle": "mtsamples-tfidf"})
    assert response.status_code == 422 and response.json["error"]["details"]["fields"] == ["modle"]
    response = send(client, "upload", form={"options": json.dumps({"explain": False, "colour": "red"})})
    assert response.status_code == 422 and response.json["error"]["details"]["fields"] == ["colour"]
    response = client.post("/v1/classify", json={"documents": [{"text": NOTE, "txet": "x"}]})
    assert response.status_code == 422 and response.json["error"]["details"]["fields"] == ["txet"]


def test_form_fields_and_json_options_are_read_with_their_types(client):
    response = send(client, "upload", form={"model": "mtsamples-tfidf", "explain": "false"})
    assert response.status_code == 200 and "explanation" not in response.json["results"][0]
    response = send(client, "upload", form={"options": json.dumps({"model": "mtsamples-tfidf", "explain": False})})
    assert response.status_code == 200 and response.json["model"]["name"] == "mtsamples-tfidf"
    # In JSON a boolean is a boolean: the text "false" is not one.
    response = client.post("/v1/classify", json={"explain": "false", "documents": [{"text": NOTE}]})
    assert response.status_code == 422 and response.json["error"]["details"]["fields"] == ["explain"]


def test_an_option_given_twice_is_refused(client):
    response = client.post("/v1/classify?explain=true", json={"explain": False, "documents": [{"text": NOTE}]})
    assert response.status_code == 422 and "given in both" in response.json["error"]["message"]
    response = send(client, "upload", "?model=ohsumed-tfidf", form={"model": "mtsamples-tfidf"})
    assert response.status_code == 422


def test_summarize_options_from_the_query_string_of_an_upload(client):
    upload = io.BytesIO(json.dumps({"id": "a", "text": "One sentence here. Two sentences here."}).encode())
    response = client.post("/v1/summarize?method=lead&max_sentences=1", data={"file": (upload, "a.jsonl")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.json["results"][0]["summary"] == "One sentence here."


def test_job_uploads_take_options_from_the_query_string_too(client):
    upload = io.BytesIO(json.dumps({"id": "n1", "text": NOTE}).encode() + b"\n")
    response = client.post("/v1/jobs?model=mtsamples-tfidf&explain=false",
                           data={"operation": "classify", "file": (upload, "notes.jsonl")},
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.json
    assert response.json["options"] == {"model": "mtsamples-tfidf", "explain": False, "deidentify": False}
    wait_finished(client, response.json["id"])
    [result] = results(client, response.json["id"])
    assert "Gastroenterology" in result["labels"] and "explanation" not in result
    refused = client.post("/v1/jobs?colour=red", json={"operation": "classify", "documents": [{"text": NOTE}]})
    assert refused.status_code == 422 and refused.json["error"]["details"]["fields"] == ["colour"]


def test_a_bad_upload_option_leaves_no_file_behind(app, client):
    uploads = app.extensions["clinnlp"].jobs.folder.parent / "uploads"
    for path, form in (("/v1/jobs", {"operation": "classify", "options": "{not json"}),
                       ("/v1/jobs", {"operation": "classify", "explain": "maybe"}),
                       ("/v1/classify", {"explain": "maybe"}),
                       ("/v1/classify", {"model": "nosuch"})):
        upload = io.BytesIO(json.dumps({"id": "n1", "text": NOTE}).encode() + b"\n")
        response = client.post(path, data={**form, "file": (upload, "notes.jsonl")}, content_type="multipart/form-data")
        assert response.status_code in (404, 422)
    assert not uploads.exists() or not any(uploads.iterdir())
    assert not any(app.extensions["clinnlp"].jobs.folder.iterdir())  # no job folder without a job


def test_service_with_the_default_relative_state_folder_serves_job_files(tmp_path, monkeypatch, registry):
    """`make serve` runs with state in `var/` relative to the working folder: job downloads must work."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLINNLP_STATE_DIR", raising=False)
    app = create_app({}, registry=registry)
    try:
        assert app.extensions["clinnlp"].settings.state_dir == str(tmp_path / "var")
        client = client_for(app)
        lines = [json.dumps({"id": "ok", "text": ABSTRACT}), '{"id": "broken", "text": "cut']
        upload = io.BytesIO(("\n".join(lines) + "\n").encode())
        job = client.post("/v1/jobs", data={"operation": "classify", "model": "ohsumed-tfidf",
                                            "file": (upload, "notes.jsonl")}, content_type="multipart/form-data")
        assert job.status_code == 202
        assert wait_finished(client, job.json["id"])["status"] == "PARTIAL_SUCCESS"
        assert [r["id"] for r in results(client, job.json["id"])] == ["ok"]
        errors = client.get(f"/v1/jobs/{job.json['id']}/errors")
        assert errors.status_code == 200
        [error] = [json.loads(line) for line in errors.data.decode().splitlines()]
        # The source names the upload and its line, never a path on the server.
        assert error["source"] == "notes.jsonl:2" and error["id"] == "2" and str(tmp_path) not in errors.data.decode()
    finally:
        app.extensions["clinnlp"].jobs.stop()
