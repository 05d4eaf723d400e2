"""De-identification through the command line, the API and jobs: no identifier in any output, log or error."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from tests.test_service_jobs import results, wait_finished

NOTE = ("PATIENT NAME: QUILLFEATHER, ARABELLA  MRN: 00482913\nSeen 03/04/2021 by Dr. Okafor for abdominal pain; "
        "laparoscopic cholecystectomy for cholelithiasis. Call (617) 555-0142.")
SECRETS = ("QUILLFEATHER", "Quillfeather", "ARABELLA", "00482913", "03/04/2021", "Okafor", "555-0142")


def assert_clean(*texts):
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def clinnlp(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nlp.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.mark.slow
def test_cli_deidentify_streams_reports_bad_records_and_leaks_nothing(tmp_path):
    source = tmp_path / "notes.jsonl"
    source.write_text(json.dumps({"id": "n1", "text": NOTE}) + "\n" + '{"id": "n2", "text": ""}\n{broken\n'
                      + json.dumps({"id": "n3", "text": "Foley catheter; Apgar 8; a 45-year-old."}) + "\n")
    run = clinnlp("deidentify", str(source), "-o", str(tmp_path / "out.jsonl"), "--no-progress", "--workers", "1",
                  cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["n1", "n3"]
    assert records[1]["text"] == "Foley catheter; Apgar 8; a 45-year-old." and records[1]["phi"] == []
    for item in records[0]["phi"]:
        assert set(item) == {"type", "start", "end", "replacement_start", "replacement_end"}
        assert records[0]["text"][item["replacement_start"]:item["replacement_end"]] == f"[{item['type']}]"
    errors = (tmp_path / "out.errors.jsonl").read_text()
    assert errors.count("\n") == 2
    assert_clean((tmp_path / "out.jsonl").read_text(), errors, run.stderr, run.stdout)

    surrogate = clinnlp("deidentify", str(source), "-o", str(tmp_path / "fake.jsonl"), "--operator", "surrogate",
                        "--types", "name,date", "--no-progress", cwd=tmp_path)
    assert surrogate.returncode == 1
    fake = json.loads((tmp_path / "fake.jsonl").read_text().splitlines()[0])
    assert {p["type"] for p in fake["phi"]} == {"NAME", "DATE"} and "00482913" in fake["text"]
    assert "Okafor" not in fake["text"] and "[NAME]" not in fake["text"]

    refused = clinnlp("deidentify", str(source), "-o", str(tmp_path / "x.jsonl"), "--types", "colour", cwd=tmp_path)
    assert refused.returncode == 2 and "COLOUR" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.slow
def test_cli_classify_and_summarize_deidentify_first(tmp_path):
    source = tmp_path / "notes.jsonl"
    source.write_text(json.dumps({"id": "n1", "text": NOTE}) + "\n")
    for command in (["classify", "--model", "mtsamples-tfidf"], ["summarize", "--method", "lead"]):
        out = tmp_path / f"{command[0]}.jsonl"
        run = clinnlp(*command, str(source), "-o", str(out), "--deidentify", "--no-progress", cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        [record] = [json.loads(line) for line in out.read_text().splitlines()]
        assert "[NAME]" in record["deidentified_text"]
        assert_clean(out.read_text(), run.stderr)
        for term in record.get("explanation", []):  # offsets refer to the de-identified text
            for start, end in term["spans"]:
                assert record["deidentified_text"][start:end].lower().startswith(term["term"].split()[0][:4])


@pytest.fixture(scope="module")
def registry():
    from service.registry import Registry

    return Registry.load(("mtsamples-tfidf",), ("lead",))


def test_api_deidentify_answers_json_and_text_and_logs_counts_only(app, client, caplog):
    with caplog.at_level(logging.DEBUG):
        answer = client.post("/v1/deidentify", json={"documents": [{"id": "n1", "text": NOTE}], "operator": "redact"})
        plain = client.post("/v1/deidentify?types=NAME,date", data=NOTE, content_type="text/plain")
        bad = client.post("/v1/deidentify", json={"documents": [{"text": NOTE}], "operator": "shred"})
        bad_type = client.post("/v1/deidentify?types=colour", data=NOTE, content_type="text/plain")
    assert answer.status_code == 200 and answer.json["operator"] == "redact"
    [result] = answer.json["results"]
    assert result["id"] == "n1" and {"NAME", "MRN", "DATE", "PHONE"} <= {p["type"] for p in result["phi"]}
    assert plain.status_code == 200
    assert {p["type"] for p in plain.json["results"][0]["phi"]} == {"NAME", "DATE"}
    assert bad.status_code == 422 and bad_type.status_code == 422
    audit = app.extensions["clinnlp"].settings.audit_path.read_text()
    records = [json.loads(line) for line in audit.splitlines()]
    assert [r["status"] for r in records] == [200, 200, 422, 422]
    assert all(r["documents"] == 1 for r in records[:2]) and all("deidentify" in r["endpoint"] for r in records)
    assert_clean(answer.get_data(as_text=True), bad.get_data(as_text=True), bad_type.get_data(as_text=True), audit,
                 caplog.text)
    assert "Okafor" not in plain.get_data(as_text=True) and "00482913" in plain.json["results"][0]["text"]


def test_api_classify_and_summarize_with_deidentify_return_no_identifier(client):
    classified = client.post("/v1/classify", json={"documents": [{"text": NOTE}], "deidentify": True})
    summarized = client.post("/v1/summarize?deidentify=true&method=lead", data=NOTE, content_type="text/plain")
    assert classified.status_code == 200 and summarized.status_code == 200
    assert "[NAME]" in classified.json["results"][0]["deidentified_text"]
    assert "[NAME]" in summarized.json["results"][0]["summary"]
    assert_clean(classified.get_data(as_text=True), summarized.get_data(as_text=True))


def test_deidentify_jobs_run_and_store_no_identifier_in_results(app, client):
    response = client.post("/v1/jobs", json={"operation": "deidentify", "operator": "surrogate",
                                             "documents": [{"id": f"n{i}", "text": NOTE} for i in range(3)]})
    assert response.status_code == 202, response.json
    assert response.json["options"] == {"operator": "surrogate"}
    status = wait_finished(client, response.json["id"])
    assert status["status"] == "COMPLETED" and status["progress"]["processed"] == 3
    done = results(client, response.json["id"])
    assert [r["id"] for r in done] == ["n0", "n1", "n2"]
    assert_clean(*(r["text"] for r in done))
    classify_job = client.post("/v1/jobs", json={"operation": "classify", "deidentify": True,
                                                 "documents": [{"id": "c1", "text": NOTE}]})
    assert classify_job.status_code == 202
    wait_finished(client, classify_job.json["id"])
    assert_clean(json.dumps(results(client, classify_job.json["id"])))


@pytest.mark.slow
def test_mine_deidentify_stores_no_identifier_in_the_output_folder(tmp_path):
    from nlp.mining.analyze import MiningSettings
    from nlp.mining.run import mine

    source = tmp_path / "abstracts.jsonl"
    rows = [{"id": "a1", "title": "Asthma in Mr. Quillfeather", "abstract": NOTE + " Inhaled steroids helped."},
            {"id": "a2", "title": "Inhaled steroids", "abstract": "Inhaled corticosteroids reduce asthma attacks."}]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = mine(source, tmp_path / "out", MiningSettings(summarizer="lead", deidentify=True), workers=1,
                  progress=False)
    assert result.documents == 2
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".csv", ".html"):
            assert_clean(path.read_text(encoding="utf-8", errors="replace"))
    assert "[NAME]" in (tmp_path / "out" / "documents.jsonl").read_text()
