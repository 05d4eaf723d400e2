"""The clinnlp command end to end, on small files written here."""

import json
import subprocess
import sys

import pytest

from nlp.cli import EXIT_ERROR, EXIT_OK, EXIT_RECORDS_FAILED, main
from tests.conftest import write_jsonl

SECRET = "Patient John Example, MRN 12345, chest pain"


@pytest.fixture
def trained(tmp_path, labelled_csv):
    out = tmp_path / "models" / "specialty"
    code = main(["train", "--train-file", str(labelled_csv), "--text-column", "note", "--id-column", "note_id",
                 "--label-column", "specialty", "--out", str(out), "--dev-fraction", "0.25"])
    assert code == EXIT_OK
    return out


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_train_writes_a_model_directory(trained):
    meta = json.loads((trained / "model.json").read_text())
    assert meta["name"] == "specialty" and meta["task"] == "single_label"
    assert [label["id"] for label in meta["labels"]] == ["cardiology", "gastroenterology", "orthopedics"]
    assert meta["training"]["documents"] == 36 and len(meta["training"]["data_sha256"]) == 64
    assert meta["dev_metrics"]["documents"] == 9
    assert 0.0 <= meta["dev_metrics"]["accuracy"] <= 1.0
    assert "Dev split" in (trained / "README.md").read_text()


def test_cli_classify_jsonl_writes_labels_scores_explanations(tmp_path, trained):
    source = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "x1", "text": "Troponin up, angina and chest pain; echocardiogram ordered."},
        {"id": "x2", "text": "Fracture of the femur, splint and cast applied to the knee."},
    ])
    out = tmp_path / "out.jsonl"
    assert main(["classify", "--model", str(trained), "--trust", str(source), "-o", str(out), "--no-progress"]) == EXIT_OK
    results = read_jsonl(out)
    assert [(r["id"], r["label"]) for r in results] == [("x1", "cardiology"), ("x2", "orthopedics")]
    first = results[0]
    assert first["labels"] == ["cardiology"] and set(first["scores"]) == {"cardiology", "gastroenterology", "orthopedics"}
    assert abs(sum(first["scores"].values()) - 1) < 1e-3
    text = "Troponin up, angina and chest pain; echocardiogram ordered."
    for item in first["explanation"]:
        for start, end in item["spans"]:
            assert text[start:end].lower().split()[0] == item["term"].split()[0]
    assert not (tmp_path / "out.errors.jsonl").exists()


def test_cli_classify_bad_records_go_to_errors_file_and_exit_nonzero(tmp_path, trained):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join([
        b'{"id": "ok1", "text": "colonoscopy found a polyp"}',
        b'{"id": "broken", "text": "' + SECRET.encode() + b'"',
        b'{"id": "empty", "text": ""}',
        b'{"id": "latin", "text": "caf\xe9"}',
        b'{"id": "ok2", "text": "knee arthroscopy for meniscus tear"}',
    ]) + b"\n")
    out = tmp_path / "out.jsonl"
    code = main(["classify", "--model", str(trained), "--trust", str(source), "-o", str(out), "--batch-size", "2", "--no-progress"])
    assert code == EXIT_RECORDS_FAILED
    assert [r["id"] for r in read_jsonl(out)] == ["ok1", "ok2"]
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    # A record whose id cannot be read is named by its line, like a record without an id.
    assert [(e["id"], e["source"].rsplit(":", 1)[1]) for e in errors] == [("2", "2"), ("empty", "3"), ("4", "4")]
    assert errors[0]["reason"] == ("malformed JSON: the line ends before its JSON object is complete "
                                   "(was the file cut off?)")
    assert errors[2]["reason"].startswith("line 4 is not valid UTF-8")
    assert SECRET not in (tmp_path / "out.errors.jsonl").read_text()


def test_cli_classify_csv_and_txt_folder(tmp_path, trained):
    csv_path = tmp_path / "in.csv"
    csv_path.write_text('id,text\nc1,"gastritis and reflux, endoscopy planned"\n')
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "t1.txt").write_text("Atrial fibrillation with palpitations.")
    for source, expected in ((csv_path, [("c1", "gastroenterology")]), (folder, [("t1", "cardiology")])):
        out = tmp_path / f"{source.stem}.out.jsonl"
        assert main(["classify", "--model", str(trained), "--trust", str(source), "-o", str(out), "--no-progress"]) == EXIT_OK
        assert [(r["id"], r["label"]) for r in read_jsonl(out)] == expected


def test_cli_evaluate_writes_report_and_plot(tmp_path, trained, single_label_data, capsys):
    import random

    from tests.conftest import make_note

    rng = random.Random(99)  # notes the model never saw
    unseen = write_jsonl(tmp_path / "unseen.jsonl", [{"id": f"u{i}", "text": make_note([label], rng), "label": label}
                                                     for i, label in enumerate(sorted(set(single_label_data[1])) * 4)])
    out_dir = tmp_path / "eval"
    assert main(["evaluate", "--model", str(trained), "--trust", "--test-file", str(unseen), "--out-dir", str(out_dir)]) == EXIT_OK
    report = json.loads((out_dir / "specialty-unseen-file.json").read_text())
    assert report["documents"] == 12 and "not trained on" in report["scored_on"]
    assert set(report["per_class"]) == {"cardiology", "gastroenterology", "orthopedics"}
    assert (out_dir / "specialty-unseen-file.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "scored on:" in printed and "accuracy" in printed and len(printed.splitlines()) < 10


def test_cli_evaluate_on_the_training_data_cross_validates_instead(tmp_path, trained, labelled_csv, capsys):
    out_dir = tmp_path / "eval"
    code = main(["evaluate", "--model", str(trained), "--trust", "--test-file", str(labelled_csv), "--text-column", "note",
                 "--label-column", "specialty", "--id-column", "note_id", "--out-dir", str(out_dir), "--folds", "3"])
    assert code == EXIT_OK
    report = json.loads((out_dir / "specialty-train-file.json").read_text())
    assert report["documents"] == 36 and "3-fold cross-validation" in report["scored_on"]
    assert "3-fold cross-validation" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(trained), "--trust", "--test-file", str(labelled_csv), "--text-column", "note",
                 "--label-column", "specialty", "--id-column", "note_id", "--out-dir", str(out_dir),
                 "--on-training-data"]) == EXIT_OK
    assert "TRAINED ON" in json.loads((out_dir / "specialty-train-file.json").read_text())["scored_on"]


def test_cli_show_lists_every_label_with_its_own_terms_and_errors_cleanly(tmp_path, multi_label_data, capsys):
    results = write_jsonl(tmp_path / "r.jsonl", [{
        "id": "n1", "labels": ["cardiology", "gastroenterology"], "label_names": ["Cardiology", "GI"],
        "scores": {"cardiology": 0.9, "gastroenterology": 0.7},
        "explanation": [{"label": "cardiology", "term": "troponin", "weight": 0.5, "spans": []},
                        {"label": "gastroenterology", "term": "polyp", "weight": 0.4, "spans": []}]}])
    assert main(["show", str(results)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert any("Cardiology (0.90)" in line and "troponin" in line and "polyp" not in line for line in lines)
    assert any("GI (0.70)" in line and "polyp" in line for line in lines)
    none = write_jsonl(tmp_path / "none.jsonl", [{"id": "n2", "labels": [], "label_names": [],
                                                 "scores": {"cardiology": 0.1}, "explanation": []}])
    assert main(["show", str(none)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[-2:] == ["n2:", "    (no label reached the model's threshold)"]
    run = subprocess.run([sys.executable, "-m", "nlp.cli", "show", str(tmp_path / "nonexistent.jsonl")],
                         capture_output=True, text=True)
    assert run.returncode == EXIT_ERROR and "Traceback" not in run.stderr
    assert run.stderr.strip() == f"clinnlp show: error: {tmp_path / 'nonexistent.jsonl'}: No such file or directory"
    (tmp_path / "not.jsonl").write_text("this is not JSON\n")
    assert main(["show", str(tmp_path / "not.jsonl")]) == EXIT_ERROR
    assert "not a JSON line" in capsys.readouterr().err


def test_cli_multi_label_train_and_classify(tmp_path, multi_label_data):
    texts, labels = multi_label_data
    train_file = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    out = tmp_path / "multi"
    assert main(["train", "--train-file", str(train_file), "--out", str(out)]) == EXIT_OK
    assert json.loads((out / "model.json").read_text())["task"] == "multi_label"
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "troponin and angina; colonoscopy showed a polyp"}])
    assert main(["classify", "--model", str(out), "--trust", str(source), "-o", str(tmp_path / "o.jsonl"), "--no-progress"]) == 0
    [result] = read_jsonl(tmp_path / "o.jsonl")
    assert "label" not in result
    assert set(result["labels"]) == {"cardiology", "gastroenterology"}
    report_dir = tmp_path / "eval"
    assert main(["evaluate", "--model", str(out), "--trust", "--test-file", str(train_file), "--out-dir", str(report_dir)]) == 0
    assert (report_dir / "multi-train-file.png").exists()


def test_cli_errors_are_one_clear_line(tmp_path, trained, capsys):
    assert main(["classify", "--model", str(tmp_path / "nope"), str(tmp_path / "x.jsonl"), "-o", "o.jsonl"]) == EXIT_ERROR
    assert "no model" in capsys.readouterr().err
    assert main(["classify", "--model", str(trained), "--trust", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == EXIT_ERROR
    assert "no such file" in capsys.readouterr().err
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("id,body\n1,x\n")
    assert main(["classify", "--model", str(trained), "--trust", str(bad_csv), "-o", str(tmp_path / "o.jsonl")]) == EXIT_ERROR
    assert "missing column" in capsys.readouterr().err
    assert main(["train", "--corpus", "no-such-corpus", "--out", str(tmp_path / "m")]) == EXIT_ERROR
    assert "known corpora: " in capsys.readouterr().err


def test_cli_runs_as_a_program_without_traceback(tmp_path, trained):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "polyp"}, {"id": "b", "text": ""}])
    run = subprocess.run([sys.executable, "-m", "nlp.cli", "classify", "--model", str(trained), "--trust", str(source),
                          "-o", str(tmp_path / "out.jsonl")], capture_output=True, text=True)
    assert run.returncode == EXIT_RECORDS_FAILED
    assert "Traceback" not in run.stderr
    assert "classify: 100%" in run.stderr  # the progress bar
    assert "1 records failed" in run.stderr


def test_cli_classify_workers_give_identical_output_in_input_order(tmp_path, trained, single_label_data):
    texts, _ = single_label_data
    records = [{"id": f"d{i}", "text": text} for i, text in enumerate(texts)] + [{"id": "bad", "text": ""}]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.jsonl"
        code = main(["classify", "--model", str(trained), "--trust", str(source), "-o", str(out), "--batch-size", "5",
                     "--workers", workers, "--no-progress"])
        assert code == EXIT_RECORDS_FAILED
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert [r["id"] for r in read_jsonl(tmp_path / "out2.jsonl")] == [f"d{i}" for i in range(len(texts))]


def test_cli_multi_label_lists_the_most_probable_label_first(tmp_path, multi_label_data):
    texts, labels = multi_label_data
    train_file = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    assert main(["train", "--train-file", str(train_file), "--out", str(tmp_path / "m")]) == EXIT_OK
    out = tmp_path / "o.jsonl"
    assert main(["classify", "--model", str(tmp_path / "m"), "--trust", str(train_file), "-o", str(out), "--no-progress"]) == 0
    for result in read_jsonl(out):
        scores = [result["scores"][label] for label in result["labels"]]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("method", ["lead", "extractive"])
def test_cli_summarize_writes_offsets_and_reports_bad_records(tmp_path, method):
    from tests.test_summarizers import ABSTRACT

    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join([
        json.dumps({"id": "a1", "text": ABSTRACT}).encode(),
        b'{"id": "broken", "text": "' + SECRET.encode() + b'"',
        json.dumps({"id": "a2", "text": "One sentence only."}).encode(),
    ]) + b"\n")
    out = tmp_path / "out.jsonl"
    code = main(["summarize", "--method", method, "--max-words", "25", str(source), "-o", str(out), "--no-progress"])
    assert code == EXIT_RECORDS_FAILED
    first, second = read_jsonl(out)
    assert (first["id"], second["id"]) == ("a1", "a2")
    assert 0 < len(first["summary"].split()) <= 25
    for sentence in first["sentences"]:
        assert ABSTRACT[sentence["start"]:sentence["end"]] == sentence["text"]
        assert isinstance(sentence["score"], float)
    assert second["summary"] == "One sentence only."
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [e["source"].rsplit(":", 1)[1] for e in errors] == ["2"]
    assert SECRET not in (tmp_path / "out.errors.jsonl").read_text()


def test_cli_summarize_rejects_bad_options_in_one_line(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "A note."}])
    out = str(tmp_path / "o.jsonl")
    for options, message in ((["--max-words", "0"], "max_words must be"), (["--sections", "vibes"], "unknown section"),
                             (["--method", "gpt"], "unknown summarization method"),
                             (["--method", "abstractive"], "needs a model"),
                             (["--method", "lead", "--model", "x"], "does not apply")):
        assert main(["summarize", *options, str(source), "-o", out]) == EXIT_ERROR
        assert message in capsys.readouterr().err


def test_cli_refuses_to_overwrite_its_input(tmp_path, trained, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "polyp"}])
    before = source.read_bytes()
    assert main(["classify", "--model", str(trained), "--trust", str(source), "-o", str(source)]) == EXIT_ERROR
    assert "would overwrite the input" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_cli_loads_pickled_weights_from_outside_the_models_folder_only_when_trusted(tmp_path, trained, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "polyp"}])
    assert main(["classify", "--model", str(trained), str(source), "-o", str(tmp_path / "o.jsonl")]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "not in the models folder" in error and "--trust" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_a_fixed_threshold_is_kept_and_not_tuned_on_dev(multi_label_data):
    from nlp.training import THRESHOLDS, TrainingData, tune

    texts, labels = multi_label_data
    data = TrainingData([str(i) for i in range(len(texts))], texts, labels, True, {"file": "test"})
    _, _, tried, _ = tune(data, "tfidf", fixed={"threshold": 0.45})
    assert {row["params"]["threshold"] for row in tried} == {0.45}
    _, _, tried, _ = tune(data, "tfidf")
    assert {row["params"]["threshold"] for row in tried} == set(THRESHOLDS)


def test_cross_validation_chooses_the_setting_and_the_card_shows_it(tmp_path, single_label_data):
    from nlp.training import TrainingData, cross_validate_settings, train

    texts, labels = single_label_data
    data = TrainingData([str(i) for i in range(len(texts))], texts, labels, False, {"file": "test"})
    rows = cross_validate_settings(data, "tfidf", k=3, fixed={"min_df": 1, "max_df": 1.0})
    assert len(rows) > 1 and all(row["folds"] == 3 and 0 <= row["accuracy"]["std"] <= row["accuracy"]["mean"] <= 1
                                 for row in rows)
    best = max(rows, key=lambda row: row["score"])
    out = train(data, "tfidf", tmp_path / "m", fixed={"min_df": 1, "max_df": 1.0}, cv=3)
    meta = json.loads((out / "model.json").read_text())
    assert {k: meta["params"][k] for k in best["params"]} == best["params"]
    assert meta["dev_metrics"]["cross_validation"]["accuracy"] == best["accuracy"]
    timeless = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in meta["tuning"]] == timeless
    card = (out / "README.md").read_text()
    assert "chosen by 3-fold cross-validation" in card and f"{best['accuracy']['mean']} ± {best['accuracy']['std']}" in card
    with pytest.raises(ValueError, match="at least 2 folds"):
        train(data, "tfidf", tmp_path / "n", cv=1)


def test_cross_validation_of_a_multi_label_model_reports_its_calibration(multi_label_data):
    from nlp.training import TrainingData, cross_validate_settings

    texts, labels = multi_label_data
    data = TrainingData([str(i) for i in range(len(texts))], texts, labels, True, {"file": "test"})
    rows = cross_validate_settings(data, "tfidf", k=3, fixed={"min_df": 1, "max_df": 1.0, "C": 1.0,
                                                              "calibration": "sigmoid", "threshold": 0.5})
    (row,) = rows
    assert 0 <= row["ece"]["mean"] <= 1 and 0 <= row["micro_f1"]["mean"] <= 1


def test_a_model_not_served_by_default_is_classified_by_the_cli_and_served_only_when_named(
        tmp_path, trained, labelled_csv, monkeypatch, capsys):
    from service.registry import Registry

    slow = tmp_path / "models" / "specialty-slow"
    assert main(["train", "--train-file", str(labelled_csv), "--text-column", "note", "--id-column", "note_id",
                 "--label-column", "specialty", "--out", str(slow), "--not-served-by-default"]) == EXIT_OK
    assert json.loads((slow / "model.json").read_text())["served_by_default"] is False
    assert json.loads((trained / "model.json").read_text())["served_by_default"] is True
    assert "only when `CLINNLP_CLASSIFIERS` names it" in (slow / "README.md").read_text()
    monkeypatch.setenv("CLINNLP_MODELS_DIR", str(tmp_path / "models"))
    assert main(["models"]) == EXIT_OK
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "served only when named" in listed["specialty-slow"] and "served" not in listed["specialty"]
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "x1", "text": "Troponin up, angina and chest pain."}])
    assert main(["classify", "--model", "specialty-slow", str(source), "-o", str(tmp_path / "out.jsonl")]) == EXIT_OK
    assert read_jsonl(tmp_path / "out.jsonl")[0]["labels"] == ["cardiology"]
    assert set(Registry.load((), (), analyzer=False).classifiers) == {"specialty"}
    assert set(Registry.load(("specialty", "specialty-slow"), (), analyzer=False).classifiers) == \
        {"specialty", "specialty-slow"}
