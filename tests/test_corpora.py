"""Corpus loaders on tiny files written in each shared corpus's format."""

import csv
import json

import pytest

import corpora
from corpora import CorpusError, load_corpus, load_files, resolve_data_dir
from nlp.documents import DocumentError, Fields, InputError


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "corpora"
    write_csv(root / "ohsumed_23" / "ohsumed_single_23_train.csv", ["split", "label", "doc_id", "text"], [
        ["training", "C04", "001", "Tumour growth.\n Abstract one."],
        ["training", "C14", "002", "Heart failure.\n Abstract two."],
        ["training", "C14", "003", "  "],
    ])
    write_csv(root / "mtsamples" / "mtsamples.csv",
              ["sample_id", "url", "medical_specialty", "sample_name", "description", "transcription", "keywords"], [
        ["10", "u", " Surgery", "Appendectomy", "Surgery note", "The appendix was removed.", "surgery, appendix"],
        ["10", "u", "Gastroenterology", "Appendectomy", "Surgery note", "The appendix was removed.", "gi"],
        ["11", "u", "Neurology", "EEG", "Neuro", "EEG shows no seizure activity.", "neurology"],
        ["12", "u", "Radiology", "CT", "Radiology", "", "radiology"],
    ])
    nicta = root / "nicta_piboso"
    nicta.mkdir()
    (nicta / "train_clean.txt").write_text("###111\nbackground\tFirst.\npopulation\tSecond.\n\n###222\noutcome\tThird.\n")
    (nicta / "dev_clean.txt").write_text("###333\nother\tFourth.\n")
    hoc = root / "hallmarks_of_cancer"
    hoc.mkdir()
    (hoc / "hoc_docs.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"pmid": 1, "text": "Cells evade apoptosis.", "doc_hallmarks": ["Resisting cell death", "NULL"]},
        {"pmid": 2, "text": "No hallmark here.", "doc_hallmarks": ["NULL"]},
    ]) + "\n")
    cochrane = root / "cochrane_pls"
    cochrane.mkdir()
    (cochrane / "val.source").write_text("Technical abstract one.\nTechnical abstract two.\n")
    (cochrane / "val.target").write_text("Plain one.\nPlain two.\n")
    (cochrane / "val.doi").write_text("10.1/a\n10.1/b\n")
    return root


def test_corpora_ohsumed_has_readable_category_names(data_dir):
    dataset = load_corpus("ohsumed", data_dir)["train"]
    assert dataset.column_names == ["id", "text", "label"]
    assert dataset["label"] == ["C04", "C14"]  # the empty abstract is dropped
    assert corpora.get_corpus("ohsumed").label_names["C04"] == "Neoplasms"
    assert len(corpora.get_corpus("ohsumed").label_names) == 23


def test_corpora_mtsamples_is_one_multi_label_record_per_note(data_dir):
    dataset = load_corpus("mtsamples", data_dir)["train"]
    assert dataset.column_names == ["id", "text", "labels"]
    records = {r["id"]: r for r in dataset}
    assert records["10"]["labels"] == ["Gastroenterology", "Surgery"]
    assert records["10"]["text"] == "The appendix was removed."  # transcription only
    assert records["11"]["labels"] == ["Neurology"]
    assert "12" not in records


def test_corpora_nicta_sentences_grouped_by_abstract(data_dir):
    splits = load_corpus("nicta_piboso", data_dir)
    assert list(splits) == ["train", "validation"]
    assert splits["train"]["group"] == ["111", "111", "222"]
    assert splits["train"]["label"] == ["background", "population", "outcome"]


def test_corpora_hallmarks_drop_null(data_dir):
    dataset = load_corpus("hallmarks", data_dir)["train"]
    assert dataset["labels"] == [["Resisting cell death"], []]


def test_corpora_summarization_columns(data_dir):
    dataset = load_corpus("cochrane", data_dir)["validation"]
    assert dataset.column_names == ["id", "text", "summary"]
    assert dataset[1] == {"id": "10.1/b", "text": "Technical abstract two.", "summary": "Plain two."}


def test_corpora_missing_or_broken_files_name_the_file(data_dir):
    with pytest.raises(CorpusError, match="medical_abstracts_tc.*not found"):
        load_corpus("medical_abstracts", data_dir)
    write_csv(data_dir / "meqsum" / "meqsum.csv", ["File", "Question"], [["a", "b"]])
    with pytest.raises(CorpusError, match=r"meqsum\.csv: missing column\(s\) 'CHQ', 'Summary'"):
        load_corpus("meqsum", data_dir)
    (data_dir / "hallmarks_of_cancer" / "hoc_docs.jsonl").write_text('{"pmid": 1, "text": "x"}\n{broken\n')
    with pytest.raises(CorpusError, match=r"hoc_docs\.jsonl:2: malformed JSON"):
        load_corpus("hallmarks", data_dir)


def test_corpora_data_dir_flag_then_environment_then_error(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CLINNLP_DATA_DIR", str(data_dir))
    assert resolve_data_dir() == data_dir
    assert resolve_data_dir(tmp_path) == tmp_path
    with pytest.raises(CorpusError, match="does not exist"):
        resolve_data_dir(tmp_path / "nowhere")
    monkeypatch.delenv("CLINNLP_DATA_DIR")
    monkeypatch.setattr("corpora.registry._PROJECT_ROOT", tmp_path / "a" / "b")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError, match="pass --data-dir or set CLINNLP_DATA_DIR"):
        resolve_data_dir()


def test_corpora_unknown_name_lists_known():
    with pytest.raises(CorpusError, match="known corpora: .*mtsamples.*ohsumed"):
        corpora.get_corpus("pubmed-200k")


def test_corpora_load_files_multi_label_from_csv_and_json(tmp_path):
    write_csv(tmp_path / "train.csv", ["text", "tags"], [["note a", "x|y"], ["note b", "y"], ["", "x"]])
    errors = []
    dataset = load_files(tmp_path / "train.csv", Fields(label="tags", label_delimiter="|"), errors=errors)
    assert dataset.column_names == ["id", "text", "labels"]
    assert dataset["labels"] == [["x", "y"], ["y"]]
    assert [(e.source.endswith(":4"), e.reason) for e in errors] == [(True, "empty text")]
    (tmp_path / "train.jsonl").write_text('{"text": "a", "label": ["p", "q"]}\n{"text": "b", "label": ["q"]}\n')
    assert load_files(tmp_path / "train.jsonl", Fields(label="label"))["labels"] == [["p", "q"], ["q"]]


def test_corpora_load_files_txt_folders_are_labels(tmp_path):
    for label, text in (("cardiology", "angina"), ("neurology", "seizure")):
        (tmp_path / label).mkdir()
        (tmp_path / label / "1.txt").write_text(text)
    (tmp_path / "loose.txt").write_text("no folder")
    errors: list[DocumentError] = []
    dataset = load_files(tmp_path, Fields(label="label"), errors=errors)
    assert list(zip(dataset["text"], dataset["label"])) == [("angina", "cardiology"), ("seizure", "neurology")]
    assert "no label" in errors[0].reason


def test_corpora_load_files_without_valid_records_is_an_input_error(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"text": ""}\n')
    with pytest.raises(InputError, match="no valid labelled record"):
        load_files(tmp_path / "t.jsonl", Fields(label="label"), errors=[])


def test_corpora_every_corpus_has_a_dataset_card():
    corpora.get_corpus("ohsumed")
    for info in corpora.CORPORA.values():
        card = info.card_text()
        assert card.startswith("# ") and "Licence" in card and "Source" in card, info.name


def test_corpora_cli_lists_corpora_and_prints_cards(data_dir, capsys):
    from nlp.cli import main

    assert main(["corpora", "--data-dir", str(data_dir)]) == 0
    listing = capsys.readouterr().out
    assert "ohsumed" in listing and "present" in listing and "missing" in listing
    assert main(["corpora", "--card", "mtsamples"]) == 0
    assert "sample_id" in capsys.readouterr().out
