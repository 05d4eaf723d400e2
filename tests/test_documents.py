import csv

import pytest

from nlp.documents import Document, DocumentError, Fields, InputError, count_records, parse_labels, read_documents
from tests.conftest import write_jsonl


def split(items):
    items = list(items)
    return [i for i in items if isinstance(i, Document)], [i for i in items if isinstance(i, DocumentError)]


def test_documents_jsonl_reports_each_bad_line_and_keeps_the_rest(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [
        b'{"id": "a", "text": "chest pain"}',
        b'{"id": "b", "text": ',                       # malformed JSON
        b'{"id": "c", "text": "caf\xe9 au lait spots"}',  # Latin-1 byte: invalid UTF-8
        b'{"id": "d"}',                                # missing text
        b'{"id": "e", "text": "   "}',                 # empty text
        b'["not", "an", "object"]',
        b"",
        b'{"text": "no id here"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    documents, errors = split(read_documents(path))
    assert [d.id for d in documents] == ["a", "8"]
    assert documents[1].source == f"{path}:8"
    reasons = {e.source.rsplit(":", 1)[1]: e.reason for e in errors}
    assert reasons.keys() == {"2", "3", "4", "5", "6"}
    assert reasons["2"].startswith("malformed JSON")
    assert reasons["3"].startswith("line 3 is not valid UTF-8")
    assert reasons["4"] == "missing field 'text'"
    assert reasons["5"] == "empty text"
    assert "not an object" in reasons["6"]
    assert count_records(path) == 7


def test_documents_errors_never_quote_the_text(tmp_path):
    secret = "Jane Roe has HIV"
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": 5, "note": secret}])
    (tmp_path / "bad.jsonl").write_text('{"text": "' + secret + '"\n')
    errors = list(read_documents(path)) + list(read_documents(tmp_path / "bad.jsonl"))
    assert all(isinstance(e, DocumentError) for e in errors)
    assert all(secret not in str(e.as_dict()) for e in errors)


def test_documents_csv_bad_rows_named_by_line(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(
        b"id,text\n"
        b'1,"a note that spans\ntwo lines"\n'
        b"2,\n"
        b"3,caf\xe9\n"
        b"4,too,many\n"
        b"5,fine\n"
        b'6,"quoted"then more\n'
        b"7,also fine\n"
        b'8,"never closed\n'
    )
    documents, errors = split(read_documents(path))
    assert [(d.id, d.text) for d in documents] == [
        ("1", "a note that spans\ntwo lines"), ("5", "fine"), ("7", "also fine")]
    assert [(e.source.rsplit(":", 1)[1], e.reason.split(":")[0]) for e in errors] == [
        ("4", "empty text"), ("5", "invalid UTF-8"), ("6", "expected 2 fields, found 3"),
        ("8", "malformed CSV"), ("10", "malformed CSV")]


def test_documents_csv_missing_column_is_an_input_error(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,body\n1,hello\n")
    with pytest.raises(InputError, match="missing column.*'text'.*2 column") as error:
        list(read_documents(path))
    # A file without a header row has a record where the header should be: the message never quotes it.
    assert "body" not in str(error.value)
    assert [d.text for d in read_documents(path, Fields(text="body"))] == ["hello"]


def test_documents_txt_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("first note")
    (tmp_path / "sub" / "b.txt").write_text("second note")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bad.txt").write_bytes(b"line one\nline \xff two")
    (tmp_path / "ignored.md").write_text("not a document")
    documents, errors = split(read_documents(tmp_path))
    assert [(d.id, d.text) for d in documents] == [("a", "first note"), ("sub/b", "second note")]
    assert sorted((e.id, e.reason) for e in errors) == [("bad", "invalid UTF-8"), ("empty", "empty text")]
    assert next(e for e in errors if e.id == "bad").source.endswith("bad.txt:2")


def test_documents_unknown_format_and_missing_path(tmp_path):
    with pytest.raises(InputError, match="unknown input format"):
        (tmp_path / "notes.xlsx").write_text("x")
        read_documents(tmp_path / "notes.xlsx")
    with pytest.raises(InputError, match="no such file"):
        read_documents(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("value, delimiter, expected", [
    ("cardiology", None, ["cardiology"]),
    ("cardiology|surgery", "|", ["cardiology", "surgery"]),
    ('["cardiology", "surgery"]', None, ["cardiology", "surgery"]),
    (["a", "b"], None, ["a", "b"]),
    ([], None, []),
    (3, None, ["3"]),
    ("", None, None),
    ("[broken", None, None),
    ({"a": 1}, None, None),
])
def test_documents_parse_labels(value, delimiter, expected):
    assert parse_labels(value, delimiter) == expected


def test_documents_labelled_csv_and_tsv(tmp_path):
    path = tmp_path / "train.tsv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["text", "label"])
        writer.writerow(["note one", "a;b"])
        writer.writerow(["note two", ""])
    documents, errors = split(read_documents(path, Fields(label="label", label_delimiter=";")))
    assert documents[0].labels == ["a", "b"]
    assert documents[1].labels == []
    assert errors == []
