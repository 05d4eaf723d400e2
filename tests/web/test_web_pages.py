"""The pages through Flask's test client: sessions and CSRF, the analysis page against the API's own answers,
uploads and their errors, jobs, model cards, mining reports, headers, scopes, and no note text anywhere it must
not be. The browser tests (test_web_browser.py) drive the same pages in Chromium."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import sqlite3
import time
from html import unescape
from pathlib import Path

from tests.web.conftest import sign_in, token_of

NOTE = ("HISTORY OF PRESENT ILLNESS: A 64-year-old man with crushing chest pain and troponin elevation.\n"
        "ASSESSMENT: Acute myocardial infarction. Coronary angioplasty was performed.\n"
        "PLAN: Aspirin, beta-blocker and statin. Cardiac rehabilitation.")
MARKER = "Zebulon Quixotewright MRN 4417-9981"
HOSTILE = ('<script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2"> '
           '<a href="javascript:window.__xss = 3">click</a> [link](javascript:alert(1)) chest pain and angina.')
MARK = re.compile(r'<mark class="([^"]*)" data-start="(\d+)" data-end="(\d+)"[^>]*>([^<]*)</mark>')


def analyze(client, text="", **fields):
    data = {"csrf_token": client.csrf, "run": ["classify", "summarize"], "text": text, "classify-model": "ohsumed-tfidf",
            **fields}
    return client.post("/analyze", data=data, content_type="multipart/form-data")


def api(app, key, path, body):
    client = app.test_client()
    return client.post(path, json=body, headers={"Authorization": f"Bearer {key}"}).json


# -- sessions ------------------------------------------------------------------------------------------------------
def test_web_sign_in_keeps_the_session_on_the_server_and_never_the_key(app, key):
    client = app.test_client()
    assert client.get("/analyze").headers["Location"].endswith("/sign-in")
    form = client.get("/sign-in")
    signin_cookie = form.headers["Set-Cookie"]
    assert "HttpOnly" in signin_cookie and "SameSite=Strict" in signin_cookie
    answer = client.post("/sign-in", data={"csrf_token": token_of(form.get_data(as_text=True)), "key": key})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/analyze")
    [cookie] = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("clinnlp_session=")]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert key not in cookie and key.split("_", 2)[2] not in cookie
    database = Path(app.extensions["clinnlp"].settings.state_dir) / "service.db"
    with sqlite3.connect(database) as db:
        rows = db.execute("select id_hash, key_id, csrf from web_sessions").fetchall()
    assert len(rows) == 1 and rows[0][0] != value and value not in rows[0][0] and rows[0][1] == key.split("_")[1]
    assert key.encode() not in database.read_bytes()
    assert client.get("/analyze").status_code == 200


def test_web_cookies_are_secure_over_https_and_when_told_to(make_app):
    app = make_app()
    key = app.extensions["clinnlp"].keys.create("tls")[1]
    client = app.test_client()
    form = client.get("/sign-in", base_url="https://clinnlp.example")
    assert form.headers["Set-Cookie"].startswith("__Host-clinnlp_signin=") and "Secure" in form.headers["Set-Cookie"]
    answer = client.post("/sign-in", base_url="https://clinnlp.example",
                         data={"csrf_token": token_of(form.get_data(as_text=True)), "key": key})
    assert answer.status_code == 303
    [cookie] = [c for c in answer.headers.getlist("Set-Cookie") if "session" in c]
    assert cookie.startswith("__Host-clinnlp_session=") and "Secure" in cookie and "Domain" not in cookie
    proxied = make_app(secure_cookies=True).test_client().get("/sign-in")
    assert "Secure" in proxied.headers["Set-Cookie"]


def test_web_sign_in_refuses_bad_keys_and_forms_without_their_token(app, key):
    client = app.test_client()
    token = token_of(client.get("/sign-in").get_data(as_text=True))
    wrong = client.post("/sign-in", data={"csrf_token": token, "key": key[:-2] + "xx"})
    assert wrong.status_code == 401 and "not valid" in wrong.get_data(as_text=True)
    forged = app.test_client().post("/sign-in", data={"csrf_token": "made-up", "key": key})
    assert forged.status_code == 403 and "clinnlp_session" not in str(forged.headers)


def test_web_every_state_change_needs_the_session_csrf_token(app, signed_in):
    for path in ("/analyze", "/jobs", "/sign-out", "/jobs/abc/cancel", "/jobs/abc/delete"):
        without = signed_in.post(path, data={"text": NOTE, "run": "classify"})
        assert without.status_code == 403 and "out of date" in without.get_data(as_text=True), path
        wrong = signed_in.post(path, data={"csrf_token": "x" * 43, "text": NOTE, "run": "classify"})
        assert wrong.status_code == 403, path
    other_site = signed_in.post("/analyze", data={"csrf_token": signed_in.csrf, "text": NOTE, "run": "classify"},
                                headers={"Origin": "http://evil.example"})
    assert other_site.status_code == 403
    for fetch_site in ("cross-site", "same-site"):  # another port or a sibling host is another application
        refused = signed_in.post("/analyze", data={"csrf_token": signed_in.csrf, "text": NOTE, "run": "classify"},
                                 headers={"Sec-Fetch-Site": fetch_site})
        assert refused.status_code == 403, fetch_site
    header = signed_in.post("/analyze", data={"text": NOTE, "run": "classify"},
                            headers={"X-CSRF-Token": signed_in.csrf, "Origin": "http://localhost"})
    assert header.status_code == 200
    # Under the pages' no-referrer policy a browser sends "Origin: null" with this site's own forms: the token decides.
    own_form = signed_in.post("/analyze", data={"csrf_token": signed_in.csrf, "text": NOTE, "run": "classify"},
                              headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert own_form.status_code == 200
    assert signed_in.get("/analyze").status_code == 200  # still signed in: the rejections changed nothing


def test_web_sign_out_ends_the_session_for_good(app, signed_in):
    cookie = signed_in.get_cookie("clinnlp_session").value
    answer = signed_in.post("/sign-out", data={"csrf_token": signed_in.csrf})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/sign-in")
    assert "clinnlp_session=;" in answer.headers["Set-Cookie"]
    replay = app.test_client()
    replay.set_cookie("clinnlp_session", cookie)
    assert replay.get("/analyze").status_code == 303
    assert replay.post("/analyze", data={"csrf_token": signed_in.csrf, "text": NOTE}).status_code == 401


def test_web_revoking_the_key_ends_its_sessions(app, key, signed_in):
    app.extensions["clinnlp"].keys.revoke(key.split("_")[1])
    assert signed_in.get("/analyze").status_code == 303


def test_web_sessions_are_shared_by_every_worker(make_app):
    first, second = make_app(), make_app()  # two processes' apps on one database, as gunicorn's workers are
    key = first.extensions["clinnlp"].keys.create("workers")[1]
    client = first.test_client()
    csrf = sign_in(client, key)
    other = second.test_client()
    other.set_cookie("clinnlp_session", client.get_cookie("clinnlp_session").value)
    assert other.get("/jobs").status_code == 200
    other.csrf = csrf
    assert analyze(other, NOTE).status_code == 200


def test_web_sessions_end_when_idle(make_app):
    app = make_app(session_idle="1s")
    client = app.test_client()
    sign_in(client, app.extensions["clinnlp"].keys.create("idle")[1])
    time.sleep(1.2)
    assert client.get("/analyze").status_code == 303


def test_web_without_auth_anyone_signs_in_without_a_key(make_app):
    client = make_app(auth=False).test_client()
    client.csrf = sign_in(client, None)
    assert "auth off" in client.get("/analyze").get_data(as_text=True)
    assert analyze(client, NOTE).status_code == 200


# -- the analysis page ---------------------------------------------------------------------------------------------
def test_web_analyze_shows_the_apis_own_results_at_their_offsets(app, key, signed_in):
    page = analyze(signed_in, NOTE, **{"summarize-method": "lead", "summarize-max_sentences": "2"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    classified = api(app, key, "/v1/classify", {"model": "ohsumed-tfidf", "documents": [{"id": "note", "text": NOTE}]})
    summarized = api(app, key, "/v1/summarize", {"method": "lead", "max_sentences": 2,
                                                 "documents": [{"id": "note", "text": NOTE}]})
    [result] = classified["results"]
    assert f"<strong>{result['label']}</strong>" in html
    marks = [(int(start), int(end), text) for _, start, end, text in MARK.findall(html)]
    assert marks
    for start, end, text in marks:
        assert NOTE[start:end] == text  # each marked piece is the note's own characters at its offsets
    covered = {i for start, end, _ in marks for i in range(start, end)}
    expected = {i for item in result["explanation"] for start, end in item["spans"] for i in range(start, end)}
    assert covered == expected  # every explanation span, and nothing else, is marked
    for item in result["explanation"]:
        assert f"{item['label']}, weight {item['weight']:.3f}" in html
    for number, sentence in enumerate(summarized["results"][0]["sentences"]):
        anchor = f'id="d0-summarize-sentence-{number}" tabindex="-1" data-start="{sentence["start"]}" ' \
                 f'data-end="{sentence["end"]}"'
        assert anchor in html and f'href="#d0-summarize-sentence-{number}"' in html
    # The default selections are what the API uses without being told.
    blank = signed_in.get("/analyze").get_data(as_text=True)
    assert re.search(r'<option value="lead" selected>lead \(default\)', blank)


def test_web_analyze_reads_every_upload_kind_with_the_apis_limits(signed_in):
    def upload(name, data, **fields):
        return analyze(signed_in, file=(io.BytesIO(data), name), **fields)

    for name, data in [("n.txt", NOTE.encode()), ("n.jsonl", json.dumps({"id": "j1", "text": NOTE}).encode()),
                       ("n.csv", b'id,text\nc1,"' + NOTE.encode() + b'"\nc2,Knee arthroscopy for a torn meniscus.\n')]:
        page = upload(name, data)
        assert page.status_code == 200 and "<h2 id=\"d0-title\">Document" in page.get_data(as_text=True), name
    two = upload("n.csv", b'id,text\nc1,"' + NOTE.encode() + b'"\nc2,Knee arthroscopy for a torn meniscus.\n')
    assert "2 documents" in two.get_data(as_text=True) and 'id="d1-note"' in two.get_data(as_text=True)
    fhir = {"resourceType": "DocumentReference", "id": "fhir-1", "status": "current", "content": [
        {"attachment": {"contentType": "text/plain", "data": base64.b64encode(NOTE.encode()).decode()}}]}
    page = upload("doc.json", json.dumps(fhir).encode())
    assert page.status_code == 200 and "Document fhir-1" in page.get_data(as_text=True)
    problems = {
        "x.pdf": (b"%PDF", 415, "unsupported file type '.pdf'"),
        "bad.jsonl": (b'{"id": "a", "text": "ok"}\n{"id": "b"}\n', 422, "records of the file are invalid"),
        "not-utf8.txt": (b"\xff\xfe\x00bad", 400, "not valid UTF-8"),
        "many.jsonl": (b"".join(json.dumps({"text": f"note {i}"}).encode() + b"\n" for i in range(70)), 413, "the limit is 64"),
        "other.json": (b'{"resourceType": "Patient"}', 422, "FHIR R4 DocumentReference or Bundle"),
        "broken.json": (b'{"resourceType": ', 400, "not valid JSON"),
    }
    for name, (data, status, message) in problems.items():
        page = upload(name, data)
        text = unescape(page.get_data(as_text=True))
        assert page.status_code == status and message in text and 'role="alert"' in text, (name, text[-800:])
    both = analyze(signed_in, NOTE, file=(io.BytesIO(b"x"), "n.txt"))
    assert both.status_code == 422 and "not both" in both.get_data(as_text=True)
    nothing = analyze(signed_in, "   ")
    assert nothing.status_code == 422 and "paste a note or choose a file" in nothing.get_data(as_text=True)


def test_web_analyze_options_are_checked_as_the_api_checks_them(app, key, signed_in):
    page = analyze(signed_in, NOTE, **{"summarize-max_words": "0"})
    api_answer = app.test_client().post("/v1/summarize?max_words=0", data=NOTE, content_type="text/plain",
                                        headers={"Authorization": f"Bearer {key}"}).json
    assert page.status_code == 422
    assert api_answer["error"]["message"].replace("query string", "form") in unescape(page.get_data(as_text=True))
    unknown = analyze(signed_in, NOTE, **{"classify-model": "no-such-model"})
    assert unknown.status_code == 404 and "no model" in unknown.get_data(as_text=True)
    sections = analyze(signed_in, NOTE, **{"summarize-sections": "nonsense"})
    assert sections.status_code == 422
    nothing_chosen = analyze(signed_in, NOTE, run=[])
    assert nothing_chosen.status_code == 422 and "at least one" in nothing_chosen.get_data(as_text=True)
    assert "<textarea" in nothing_chosen.get_data(as_text=True) and "crushing chest pain" in nothing_chosen.get_data(
        as_text=True)  # the note stays in the form, to fix the options and go again


def test_web_analyze_renders_hostile_notes_as_text(signed_in):
    page = analyze(signed_in, HOSTILE, **{"summarize-method": "lead"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script>window" not in html and "<img src=x" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html
    hostile_csv = b'id,text\n"<img src=x onerror=alert(1)>","' + HOSTILE.replace('"', '""').encode() + b'"\n'
    page = analyze(signed_in, file=(io.BytesIO(hostile_csv), "hostile.csv"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<img src=x" not in html and "Document &lt;img src=x" in html


def test_web_pages_carry_a_strict_policy_and_the_usual_headers(signed_in):
    for path in ("/analyze", "/jobs", "/models", "/models/ohsumed-tfidf", "/reports", "/sign-in", "/no-such-page"):
        answer = signed_in.get(path)
        policy = answer.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff" and answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Referrer-Policy"] == "no-referrer"
        if answer.mimetype == "text/html":
            assert "script-src 'self'" in policy and "style-src 'self'" in policy
            html = answer.get_data(as_text=True)
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), path  # no inline script
            assert not re.search(r"<[^>]+\s(style|on[a-z]+)=", html), path  # no inline style, no event handler
    static = signed_in.get("/static/web/app.js")
    assert static.status_code == 200 and "innerHTML" not in static.get_data(as_text=True)


def test_web_pages_keep_note_text_out_of_logs_urls_and_the_database(app, signed_in, caplog, tmp_path):
    page = analyze(signed_in, f"{MARKER}. {NOTE}")
    assert page.status_code == 200 and MARKER in page.get_data(as_text=True)
    job = signed_in.post("/jobs", data={"csrf_token": signed_in.csrf, "operation": "classify",
                                        "file": (io.BytesIO(f'id,text\nm1,"{MARKER} {NOTE}"\n'.encode()), "m.csv")},
                         content_type="multipart/form-data")
    assert job.status_code == 303 and MARKER not in job.headers["Location"]
    bad = analyze(signed_in, file=(io.BytesIO(f'{{"id": "{MARKER}", "text": 5}}\n'.encode()), "m.jsonl"))
    assert bad.status_code == 422
    state = Path(app.extensions["clinnlp"].settings.state_dir)
    for path in state.rglob("*"):
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes() and b"Quixotewright" not in path.read_bytes(), path
    assert "Quixotewright" not in caplog.text


def test_web_page_actions_are_in_the_audit_trail(app, key, signed_in):
    analyze(signed_in, NOTE)
    job = signed_in.post("/jobs", data={"csrf_token": signed_in.csrf, "operation": "summarize",
                                        "summarize-method": "lead", "file": (io.BytesIO(NOTE.encode()), "n.txt")},
                         content_type="multipart/form-data")
    job_id = job.headers["Location"].rsplit("/", 1)[1]
    signed_in.get(f"/jobs/{job_id}/results.jsonl")
    entries = [json.loads(line) for line in app.extensions["clinnlp"].settings.audit_path.read_text().splitlines()]
    key_id = key.split("_")[1]
    signed = [e for e in entries if e["endpoint"] == "/sign-in" and e["method"] == "POST"]
    assert signed and signed[-1]["key_id"] == key_id and signed[-1]["status"] == 303
    [analysis] = [e for e in entries if e["endpoint"] == "/analyze" and e["method"] == "POST"]
    assert analysis["key_id"] == key_id and analysis["documents"] == 1 and analysis["characters"] == len(NOTE)
    downloads = [e for e in entries if e["endpoint"] == "/jobs/<job_id>/results.jsonl"]
    assert downloads[0]["resource"] == job_id and downloads[0]["key_id"] == key_id
    assert not [e for e in entries if e["endpoint"].startswith("/static")]
    from service.observability import verify_audit

    assert verify_audit(app.extensions["clinnlp"].settings.audit_path)["ok"]


def test_web_scopes_apply_to_pages_as_to_the_api(app):
    client = app.test_client()
    client.csrf = sign_in(client, app.extensions["clinnlp"].keys.create("narrow", "classify")[1])
    assert analyze(client, NOTE, run="classify").status_code == 200
    refused = analyze(client, NOTE)
    assert refused.status_code == 403 and "summarize" in refused.get_data(as_text=True)
    assert client.get("/jobs").status_code == 403


# -- jobs ------------------------------------------------------------------------------------------------------------
def wait_for(client, job_id: str, seconds: float = 60) -> dict:
    deadline = time.time() + seconds
    while (status := client.get(f"/jobs/{job_id}/progress").json)["status"] in ("QUEUED", "RUNNING"):
        assert time.time() < deadline
        time.sleep(0.1)
    return status


def test_web_jobs_upload_progress_downloads_cancel_and_delete(app, signed_in):
    rows = "".join(f'r{i},"{NOTE}"\n' for i in range(5)) + 'bad,""\n'
    answer = signed_in.post("/jobs", data={"csrf_token": signed_in.csrf, "operation": "classify",
                                           "classify-model": "ohsumed-tfidf", "classify-explain": ["false"],
                                           "file": (io.BytesIO(("id,text\n" + rows).encode()), "batch.csv")},
                            content_type="multipart/form-data")
    assert answer.status_code == 303
    job_id = answer.headers["Location"].rsplit("/", 1)[1]
    status = wait_for(signed_in, job_id)
    assert status["status"] == "PARTIAL_SUCCESS" and status["progress"] == {"total": 6, "processed": 5, "failed": 1}
    assert status["options"]["model"] == "ohsumed-tfidf" and status["options"]["explain"] is False
    page = signed_in.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "PARTIAL_SUCCESS" in page and "Results (CSV)" in page and 'value="6"' in page
    assert job_id[:12] in signed_in.get("/jobs").get_data(as_text=True)
    jsonl = signed_in.get(f"/jobs/{job_id}/results.jsonl")
    assert jsonl.headers["Content-Disposition"] == f'attachment; filename="job-{job_id}-results.jsonl"'
    results = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert [r["id"] for r in results] == [f"r{i}" for i in range(5)] and "explanation" not in results[0]
    table = list(csv.DictReader(io.StringIO(signed_in.get(f"/jobs/{job_id}/results.csv").get_data(as_text=True))))
    assert [row["id"] for row in table] == [r["id"] for r in results]
    assert float(table[0][f"scores.{results[0]['label']}"]) == results[0]["scores"][results[0]["label"]]
    [error] = [json.loads(line) for line in signed_in.get(f"/jobs/{job_id}/errors.jsonl").get_data(as_text=True).splitlines()]
    assert error["id"] == "bad" and error["reason"] == "empty text"
    # Another key sees none of it.
    other = app.test_client()
    other.csrf = sign_in(other, app.extensions["clinnlp"].keys.create("other")[1])
    assert other.get(f"/jobs/{job_id}").status_code == 404 and other.get(f"/jobs/{job_id}/results.csv").status_code == 404
    assert job_id[:12] not in other.get("/jobs").get_data(as_text=True)
    assert other.post(f"/jobs/{job_id}/delete", data={"csrf_token": other.csrf}).status_code == 404
    # Delete: files gone (410), the record stays.
    assert signed_in.post(f"/jobs/{job_id}/delete", data={"csrf_token": signed_in.csrf}).status_code == 303
    assert signed_in.get(f"/jobs/{job_id}/results.jsonl").status_code == 410
    assert "deleted" in signed_in.get(f"/jobs/{job_id}").get_data(as_text=True)


def test_web_jobs_cancel_a_queued_job_and_show_form_errors(make_app):
    app = make_app(job_threads=0)  # nothing runs: the job stays queued until cancelled
    client = app.test_client()
    client.csrf = sign_in(client, app.extensions["clinnlp"].keys.create("cancel")[1])
    answer = client.post("/jobs", data={"csrf_token": client.csrf, "operation": "summarize",
                                        "file": (io.BytesIO(NOTE.encode()), "n.txt")}, content_type="multipart/form-data")
    job_id = answer.headers["Location"].rsplit("/", 1)[1]
    assert "Cancel the job" in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": client.csrf}).status_code == 303
    assert client.get(f"/jobs/{job_id}/progress").json["status"] == "CANCELLED"
    for data, status, message in [({"operation": "classify", "file": (io.BytesIO(b"x"), "x.pdf")}, 415, "unsupported"),
                                  ({"operation": "nothing", "file": (io.BytesIO(b"x"), "x.csv")}, 422, "'operation'"),
                                  ({"operation": "summarize", "summarize-max_words": "-3",
                                    "file": (io.BytesIO(b"x"), "x.txt")}, 422, "max_words")]:
        page = client.post("/jobs", data={"csrf_token": client.csrf, **data}, content_type="multipart/form-data")
        assert page.status_code == status and message in unescape(page.get_data(as_text=True)), data


# -- models and reports ------------------------------------------------------------------------------------------------
def test_web_model_cards_show_metrics_hash_card_and_evaluation_pictures(make_app, tmp_path):
    from nlp.evaluation import save_plot

    folder = tmp_path / "evaluate"
    folder.mkdir()
    save_plot(["C14", "C04", "C14"], [[0], [1], [1]], ["C14", "C04"], False, folder / "ohsumed-tfidf-file-file.png")
    (folder / "ohsumed-tfidf-file-file.json").write_text(json.dumps({"model": "ohsumed-tfidf", "scored_on": "three notes",
                                                                     "accuracy": 0.6667, "macro_f1": 0.6667}))
    (folder / "ohsumed-tfidf-x-y.png").write_bytes((folder / "ohsumed-tfidf-file-file.png").read_bytes())
    (folder / "ohsumed-tfidf-x-y.json").write_text(json.dumps({"model": "ohsumed-tfidf-x", "scored_on": "x"}))
    app = make_app(evaluation_dir=str(folder))
    client = app.test_client()
    sign_in(client, app.extensions["clinnlp"].keys.create("models")[1])
    listing = client.get("/models").get_data(as_text=True)
    assert "ohsumed-tfidf" in listing and "mtsamples-tfidf" in listing and "0.7222" in listing
    page = client.get("/models/ohsumed-tfidf").get_data(as_text=True)
    meta = json.loads(Path("models/ohsumed-tfidf/model.json").read_text())
    assert meta["training"]["data_sha256"] in page and "Cardiovascular Diseases" in page and "0.6507" in page
    assert page.count("<h1") == 1 and "<h2>Model card</h2>" in page
    assert "<h2>ohsumed-tfidf (version 0.1.0)</h2>" in page and "<h3>Training</h3>" in page  # the card's headings, one level down
    assert "<table>" in page  # the card's markdown table, rendered
    assert page.count("<figure") == 1 and "three notes" in page
    assert "ohsumed-tfidf-x-y.png" not in page  # its report names another model
    picture = client.get("/models/ohsumed-tfidf/plots/0.png")
    assert picture.status_code == 200 and picture.mimetype == "image/png" and picture.data[:4] == b"\x89PNG"
    assert client.get("/models/ohsumed-tfidf/plots/1.png").status_code == 404
    assert client.get("/models/nope").status_code == 404


def test_web_model_card_markdown_cannot_inject_html(tmp_path):
    from types import SimpleNamespace

    from service.web.models import card_html

    (tmp_path / "README.md").write_text("# card\n<script>alert(1)</script>\n[x](javascript:alert(2))\n"
                                        "<img src=x onerror=alert(3)>\n")
    html = str(card_html(SimpleNamespace(path=tmp_path)))
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html and "&lt;script&gt;" in html


def test_web_reports_are_listed_and_served_read_only_under_their_own_policy(make_app, tmp_path):
    from nlp.mining.report import write_report

    root = tmp_path / "reports"
    (root / "run-1").mkdir(parents=True)
    write_report(root / "run-1" / "report.html",
                 {"categories": [{"category": "C14", "name": "Cardiovascular <b>Diseases</b>", "documents": 3}],
                  "years": [{"year": 2020, "documents": 3}], "topics": [], "terms": [], "rules": []},
                 {}, {"documents": 3, "errors": 0})
    (root / "run-1" / "categories.csv").write_text("category,documents\nC14,3\n")
    (root / "run-1" / "secret.txt").write_text("not listed")
    (root / "empty").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "report.html").write_text("<p>outside</p>")
    (root / "escape").symlink_to(tmp_path / "outside")
    app = make_app(reports_dir=str(root))
    client = app.test_client()
    sign_in(client, app.extensions["clinnlp"].keys.create("reports")[1])
    listing = client.get("/reports").get_data(as_text=True)
    assert "run-1" in listing and "categories.csv" in listing and "secret.txt" not in listing
    assert "empty" not in listing and "escape" not in listing
    report = client.get("/reports/run-1/report.html")
    policy = report.headers["Content-Security-Policy"]
    assert report.status_code == 200 and "Literature mining report" in report.get_data(as_text=True)
    assert "sandbox" in policy and "script" not in policy and "style-src 'unsafe-hashes' 'sha256-" in policy
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert client.get("/reports/run-1/files/categories.csv").data == b"category,documents\nC14,3\n"
    for path in ("/reports/run-1/files/secret.txt", "/reports/escape/report.html", "/reports/..%2Foutside/report.html",
                 "/reports/run-1/files/..%2F..%2Foutside%2Freport.html", "/reports/empty/report.html"):
        assert client.get(path).status_code == 404, path
    unconfigured = make_app()
    client = unconfigured.test_client()
    sign_in(client, unconfigured.extensions["clinnlp"].keys.create("none")[1])
    assert "No reports folder is set" in client.get("/reports").get_data(as_text=True)


def test_web_pages_stay_out_of_the_api_description(signed_in):
    paths = signed_in.get("/openapi.json").json["paths"]
    assert paths and all(path.startswith(("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"))
                         for path in paths)


def test_web_templates_and_static_files_are_package_data():
    """A wheel (the Docker image installs one) carries every template and static file of the pages."""
    import tomllib
    from pathlib import PurePosixPath

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["service"]
    files = [p.relative_to(root / "service").as_posix() for folder in ("web/templates", "web/static")
             for p in (root / "service" / folder).rglob("*") if p.is_file()]
    assert files and all(any(PurePosixPath(f).match(pattern) for pattern in patterns) for f in files)  # glob: * stops at /
