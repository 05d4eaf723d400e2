import json

from nlp.cli import EXIT_ERROR, EXIT_OK, EXIT_RECORDS_FAILED, main

SECRET = "Jane Roe has a secret rash"


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_analyze_writes_sections_concepts_and_record_terms(tmp_path):
    text = "FAMILY HISTORY: Mother had diabetes.\nASSESSMENT: No pneumonia. Swollen legs."
    source = _jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": text, "terms": ["swollen legs"]},
                                            {"id": "b", "text": "Swollen legs and fever."}])
    out = tmp_path / "out.jsonl"
    assert main(["analyze", str(source), "-o", str(out), "--no-progress", "--workers", "1"]) == EXIT_OK
    first, second = _read(out)
    assert [s["name"] for s in first["sections"]] == ["family_history", "assessment"]
    concepts = {c["concept"]: c for c in first["concepts"]}
    assert concepts["diabetes mellitus"]["family"] and concepts["pneumonia"]["negated"]
    assert concepts["swollen legs"]["category"] == "term"
    assert all(text[c["start"]:c["end"]] == c["text"] for c in first["concepts"])
    assert [c["concept"] for c in second["concepts"]] == ["fever"]


def test_cli_analyze_terms_file_and_no_lexicon(tmp_path):
    (tmp_path / "terms.txt").write_text("leg swelling\n")
    source = _jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "No leg swelling; chest pain."}])
    out = tmp_path / "out.jsonl"
    assert main(["analyze", str(source), "-o", str(out), "--terms", str(tmp_path / "terms.txt"), "--no-lexicon",
                 "--no-progress"]) == EXIT_OK
    [record] = _read(out)
    assert [(c["concept"], c["negated"]) for c in record["concepts"]] == [("leg swelling", True)]


def test_cli_analyze_bad_records_go_to_the_errors_file_without_their_text(tmp_path):
    source = _jsonl(tmp_path / "in.jsonl", [
        {"id": "ok", "text": "No fever."},
        {"id": "empty", "text": ""},
        {"id": "badterms", "text": SECRET, "terms": [{"concept": SECRET, "colour": "red"}]},
        {"id": "ok2", "text": "Cough."},
    ])
    out = tmp_path / "out.jsonl"
    code = main(["analyze", str(source), "-o", str(out), "--no-progress", "--batch-size", "2", "--workers", "2"])
    assert code == EXIT_RECORDS_FAILED
    assert [r["id"] for r in _read(out)] == ["ok", "ok2"]
    errors = _read(tmp_path / "out.errors.jsonl")
    assert [e["id"] for e in errors] == ["empty", "badterms"]
    assert "unknown term field" in errors[1]["reason"]
    assert SECRET not in (tmp_path / "out.errors.jsonl").read_text()


def test_cli_analyze_unreadable_terms_file_and_missing_input_exit_2(tmp_path, capsys):
    source = _jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}])
    assert main(["analyze", str(source), "-o", str(tmp_path / "o.jsonl"), "--terms",
                 str(tmp_path / "missing.txt")]) == EXIT_ERROR
    assert main(["analyze", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == EXIT_ERROR
    assert "Traceback" not in capsys.readouterr().err
