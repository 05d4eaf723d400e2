"""POST /v1/analyze and "operation": "analyze" jobs: every input kind, per-document terms, limits, no text in logs."""

import base64
import io
import json
import logging

import pytest

from service.app import create_app
from service.registry import Registry
from tests.test_service_jobs import results, wait_finished

NOTE = "FAMILY HISTORY: Mother had breast cancer.\nASSESSMENT: No pneumonia. Leg swelling."
SECRET = "Jane Roe, MRN 998877"


@pytest.fixture(scope="module")
def registry():
    return Registry.load(("openi-findings",), ("lead",))


@pytest.fixture
def client(tmp_path, registry):
    app = create_app({"state_dir": str(tmp_path / "state"), "max_documents": 3, "max_document_chars": 5000},
                     registry=registry)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {app.extensions['clinnlp'].keys.create('t')[1]}"
    yield client
    app.extensions["clinnlp"].jobs.stop()


def _concepts(result):
    return {c["concept"]: c for c in result["concepts"]}


def test_service_analyze_json_with_document_and_request_terms(client):
    response = client.post("/v1/analyze", json={"terms": ["leg swelling"], "documents": [
        {"id": "a", "text": NOTE, "terms": [{"concept": "breast cancer", "category": "problem"}]},
        {"id": 7, "text": "Leg swelling without fever."}]})
    assert response.status_code == 200, response.json
    assert response.json["lexicon"]["used"] is True
    first, second = response.json["results"]
    assert [s["name"] for s in first["sections"]] == ["family_history", "assessment"]
    concepts = _concepts(first)
    assert concepts["breast cancer"]["family"] and concepts["pneumonia"]["negated"]
    assert concepts["leg swelling"]["category"] == "term"
    assert all(NOTE[c["start"]:c["end"]] == c["text"] for c in first["concepts"])
    assert second["id"] == "7" and _concepts(second)["fever"]["negated"]


def test_service_analyze_text_plain_fhir_and_upload(client):
    response = client.post("/v1/analyze?terms=leg%20swelling&lexicon=false", data=NOTE, content_type="text/plain")
    assert response.status_code == 200
    assert [c["concept"] for c in response.json["results"][0]["concepts"]] == ["leg swelling"]
    fhir = {"resourceType": "DocumentReference", "id": "n1", "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(NOTE.encode()).decode()}}]}
    response = client.post("/v1/analyze", json=fhir, content_type="application/fhir+json")
    assert response.status_code == 200 and response.json["results"][0]["id"] == "n1"
    upload = io.BytesIO((json.dumps({"id": "u1", "text": NOTE, "terms": ["leg swelling"]}) + "\n").encode())
    response = client.post("/v1/analyze", data={"file": (upload, "notes.jsonl")}, content_type="multipart/form-data")
    assert response.status_code == 200
    assert _concepts(response.json["results"][0])["leg swelling"]["category"] == "term"


@pytest.mark.parametrize("body, field", [
    ({"documents": [{"text": "x", "terms": "edema"}]}, "terms"),
    ({"documents": [{"text": "x", "terms": [{"concept": "x", "colour": "red"}]}]}, "terms"),
    ({"documents": [{"text": "x", "terms": ["t"] * 101}]}, "terms"),
    ({"terms": ["x" * 201], "documents": [{"text": "x"}]}, None),
    ({"documents": [{"text": "x", "labels": ["a"]}]}, None),
    ({"lexicon": "maybe", "documents": [{"text": "x"}]}, None),
])
def test_service_analyze_rejects_bad_terms_and_fields(client, body, field):
    response = client.post("/v1/analyze", json=body)
    assert response.status_code == 422, response.json
    if field:
        assert response.json["error"]["details"]["field"] == field


def test_service_analyze_terms_only_belong_to_analyze(client):
    response = client.post("/v1/classify", json={"documents": [{"text": "Cardiomegaly.", "terms": ["x"]}]})
    assert response.status_code == 422


def test_service_analyze_job_reads_each_records_terms(client):
    documents = [{"id": "a", "text": NOTE, "terms": ["leg swelling"]}, {"id": "b", "text": "Leg swelling."},
                 {"id": "bad", "text": SECRET, "terms": [{"concept": SECRET, "colour": "red"}]}]
    response = client.post("/v1/jobs", json={"operation": "analyze", "documents": documents})
    assert response.status_code == 202, response.json
    status = wait_finished(client, response.json["id"])
    assert status["progress"] == {"total": 3, "processed": 2, "failed": 1}
    first, second = results(client, response.json["id"])
    assert _concepts(first)["leg swelling"]["category"] == "term" and "leg swelling" not in _concepts(second)
    errors = client.get(f"/v1/jobs/{response.json['id']}/errors").data.decode()
    assert "unknown term field" in errors and SECRET not in errors


def test_service_analyze_is_in_the_openapi_document_and_never_logs_text(client, caplog):
    spec = client.get("/openapi.json").json
    operation = spec["paths"]["/v1/analyze"]["post"]
    assert {"application/json", "text/plain", "multipart/form-data", "application/fhir+json"} <= set(
        operation["requestBody"]["content"])
    assert "analyze" in spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"]["properties"]["operation"]["enum"]
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/analyze", json={"documents": [{"text": SECRET + " has pneumonia."}]})
        client.post("/v1/analyze", json={"documents": [{"text": SECRET, "terms": [SECRET * 20]}]})
    assert "Jane Roe" not in caplog.text and "998877" not in caplog.text


def test_service_analyze_findings_model_explains_with_assertions(client):
    response = client.post("/v1/classify", json={"model": "openi-findings", "documents": [
        {"text": "No pneumothorax. Large right pleural effusion."}]})
    assert response.status_code == 200
    [result] = response.json["results"]
    assert "Effusion" in result["labels"] and "Pneumothorax" not in result["labels"]
    assert any(item.get("assertion") == "affirmed" for item in result["explanation"])


def test_service_without_the_analyzer_answers_404(tmp_path):
    app = create_app({"state_dir": str(tmp_path / "s"), "auth": False},
                     registry=Registry.load(("ohsumed-tfidf",), ("lead",), analyzer=False))
    response = app.test_client().post("/v1/analyze", json={"documents": [{"text": "No fever."}]})
    app.extensions["clinnlp"].jobs.stop()
    assert response.status_code == 404
