"""Stream documents from the user's files: JSONL, CSV/TSV, or a folder of ``.txt`` files.

Reading never stops at a bad record. Each record comes out either as a :class:`Document` or as a
:class:`DocumentError` that names the file and line and says what is wrong, so that a batch run can
process every valid record and report the rest. Error reasons never quote the record's text: clinical
notes must not leak into logs or error files.

Problems with the input as a whole (the path does not exist, an unknown format, a CSV without the text
column) raise :class:`InputError` instead.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import orjson

JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv", ".tsv")
TXT_SUFFIX = ".txt"
UTF8_BOM = b"\xef\xbb\xbf"

# Lone surrogates are how ``errors="surrogateescape"`` marks bytes that are not UTF-8.
_UNDECODABLE = re.compile("[\udc80-\udcff]")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class InputError(ValueError):
    """The input as a whole cannot be read (missing file, unknown format, missing column)."""


@dataclass(frozen=True)
class Document:
    """One valid record.

    Attributes:
        id: The record's id (from the id field, else its line number or file name).
        text: The document text, never empty.
        source: ``file:line`` (or the file path for a ``.txt`` document), for messages.
        labels: Labels when reading labelled data, else ``None``.
    """

    id: str
    text: str
    source: str
    labels: list[str] | None = None


@dataclass(frozen=True)
class DocumentError:
    """One record that could not be read, with a reason that does not quote its text."""

    source: str
    reason: str
    id: str | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "source": self.source, "reason": self.reason}


@dataclass(frozen=True)
class Fields:
    """Which fields of a record hold what.

    Attributes:
        text: Name of the text field or column.
        id: Name of the id field; records without it get their line number as id.
        label: Name of the label field, or ``None`` when reading unlabelled documents.
        label_delimiter: Splits a string label into several (multi-label), e.g. ``"|"``.
            A label value that is a JSON list (or a string holding one) is always multi-label.
    """

    text: str = "text"
    id: str = "id"
    label: str | None = None
    label_delimiter: str | None = None


@dataclass(frozen=True)
class Stream:
    """A JSONL, CSV or TSV file that is not a plain file on disk (an encrypted job input, an upload).

    Attributes:
        open: Returns a new binary stream of the file's bytes from the start (a context manager).
        format: ``jsonl``, ``csv`` or ``tsv``.
        name: How the file is named in sources and messages (``name:line``).
    """

    open: Callable[[], BinaryIO]
    format: str
    name: str


def detect_format(path: Path) -> str:
    """Return ``"jsonl"``, ``"csv"``, ``"tsv"`` or ``"txt"`` for a path, or raise :class:`InputError`."""
    if path.is_dir():
        return "txt"
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return suffix[1:]
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    raise InputError(
        f"{path}: unknown input format {suffix!r}; expected a {'/'.join(JSONL_SUFFIXES + CSV_SUFFIXES)} "
        "file or a folder of .txt files"
    )


def read_documents(path: str | Path | Stream, fields: Fields = Fields(), name: str | None = None
                   ) -> Iterator[Document | DocumentError]:
    """Yield each record of ``path`` as a :class:`Document` or a :class:`DocumentError`, lazily.

    Args:
        path: A JSONL file, a CSV/TSV file, a folder of ``.txt`` files (searched recursively; with
            ``fields.label`` set, each file's label is the name of its parent folder), or a :class:`Stream`.
        fields: Which fields hold the text, id and labels.
        name: How sources are named in errors (``name:line``); default: the path. A service passes the
            uploaded file's own name, so no server path reaches a client.

    Raises:
        InputError: The input as a whole is unreadable.
    """
    if not isinstance(path, Stream):
        path = Path(path)
        fmt = detect_format(path)
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        if fmt == "txt":
            return _read_txt_folder(path, fields)
    required = [fields.text] + ([fields.label] if fields.label else [])
    hint = "Choose columns with --text-column/--label-column."
    return read_records(path, partial(_make_document, fields=fields), required, hint, name)


def _as_stream(path: str | Path | Stream, name: str | None = None) -> Stream:
    if isinstance(path, Stream):
        return path if name is None else Stream(path.open, path.format, name)
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "txt":
        raise InputError(f"{path}: expected a JSONL, CSV or TSV file")
    return Stream(lambda: path.open("rb"), fmt, name or str(path))


def read_records(path: str | Path | Stream, build: Callable, required: list[str] | None = None, hint: str = "",
                 name: str | None = None) -> Iterator:
    """Each record of a JSONL or CSV/TSV file as ``build(record, source, line_id)``, lazily; unreadable
    records as :class:`DocumentError`.

    Args:
        path: The file, or a :class:`Stream`.
        build: Turns a record (a dict), its ``file:line`` source and its line number into a result.
        required: CSV/TSV columns the header must have (a missing one is an :class:`InputError`).
        hint: Appended to the missing-column message.
        name: How the file is named in sources and messages (default: its path, or the stream's name).
    """
    stream = _as_stream(path, name)
    if stream.format == "jsonl":
        return _read_jsonl(stream.open, build, stream.name)
    return _read_csv(stream.open, build, "\t" if stream.format == "tsv" else ",", required or [], hint, stream.name)


def count_records(path: str | Path | Stream) -> int:
    """Count the records in ``path`` cheaply (for a progress bar's total), without validating them."""
    if not isinstance(path, Stream) and detect_format(Path(path)) == "txt":
        return sum(1 for _ in Path(path).rglob(f"*{TXT_SUFFIX}"))
    stream = _as_stream(path)
    with stream.open() as handle:
        if stream.format == "jsonl":
            return sum(1 for line in handle if line.strip())
        with io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="") as text:
            try:
                return max(0, sum(1 for _ in csv.reader(text, delimiter="\t" if stream.format == "tsv" else ",")) - 1)
            except csv.Error:
                return 0


def _read_jsonl(open_binary: Callable[[], BinaryIO], build: Callable, name: str) -> Iterator:
    with open_binary() as handle:
        for line_number, raw in enumerate(handle, start=1):
            source = f"{name}:{line_number}"
            if not raw.strip():
                continue
            if line_number == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM):]
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as bad_byte:
                    yield DocumentError(source, f"line {line_number} is not valid UTF-8 (byte {bad_byte.start + 1} "
                                                "of the line)", str(line_number))
                else:
                    yield DocumentError(source, f"malformed JSON: {_json_problem(error, raw)}", str(line_number))
                continue
            if not isinstance(record, dict):
                yield DocumentError(source, f"line {line_number} holds a JSON {type(record).__name__}, not an "
                                            "object such as {\"id\": ..., \"text\": ...}", str(line_number))
                continue
            yield build(record, source, str(line_number))


def _json_problem(error: orjson.JSONDecodeError, raw: bytes) -> str:
    """What is wrong with a JSON line, in words a person understands (never quoting the line)."""
    if "end of data" in error.msg or "EOF" in error.msg or error.pos >= len(raw.rstrip()):
        return "the line ends before its JSON object is complete (was the file cut off?)"
    return f"the JSON is broken at character {error.colno} of the line ({error.msg.rstrip('.').lower()})"


def _read_csv(open_binary: Callable[[], BinaryIO], build: Callable, delimiter: str, required: list[str], hint: str,
              name: str) -> Iterator:
    with open_binary() as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape",
                                                 newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)  # report broken quoting, never guess
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{name}: the file is empty (expected a header row)") from None
        except csv.Error:
            raise InputError(f"{name}:1: unreadable header row (broken quoting)") from None
        if any(_UNDECODABLE.search(column) for column in header):
            raise InputError(f"{name}:1: invalid UTF-8 in the header row")
        header = [column.strip() for column in header]
        missing = [column for column in required if column not in header]
        if missing:
            # Only the names asked for: a file without a header row has a record's text where the header is.
            raise InputError(
                f"{name}: missing column(s) {', '.join(map(repr, missing))} (the header row has {len(header)} "
                f"column(s); the first row must name the columns). {hint}".rstrip()
            )
        start_line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                end_line = reader.line_num
                if "unexpected end of data" in str(error) and end_line > start_line:
                    reason = (f"malformed CSV: a quote opened on line {start_line} is never closed, so lines "
                              f"{start_line}-{end_line} ({end_line - start_line + 1} lines) could not be read")
                else:
                    reason = f"malformed CSV: {error}"
                yield DocumentError(f"{name}:{start_line}", reason, str(start_line))
                start_line = end_line + 1
                continue
            source = f"{name}:{start_line}"
            line_id = str(start_line)
            start_line = reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                yield DocumentError(source, f"expected {len(header)} fields, found {len(row)}", line_id)
                continue
            if any(_UNDECODABLE.search(value) for value in row):
                yield DocumentError(source, "invalid UTF-8", line_id)
                continue
            yield build(dict(zip(header, row)), source, line_id)


def _read_txt_folder(path: Path, fields: Fields) -> Iterator[Document | DocumentError]:
    for file in sorted(path.rglob(f"*{TXT_SUFFIX}")):
        relative = file.relative_to(path)
        doc_id = relative.with_suffix("").as_posix()
        source = str(file)
        try:
            raw = file.read_bytes()
        except OSError as error:
            yield DocumentError(source, f"unreadable file ({error.strerror})", doc_id)
            continue
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            yield DocumentError(f"{file}:{line}", "invalid UTF-8", doc_id)
            continue
        if not text.strip():
            yield DocumentError(source, "empty text", doc_id)
            continue
        labels = None
        if fields.label:
            if len(relative.parts) < 2:
                yield DocumentError(source, "no label: put labelled .txt files in one folder per label", doc_id)
                continue
            labels = [relative.parts[0]]
        yield Document(doc_id, text, source, labels)


def _make_document(record: dict, source: str, line_id: str, fields: Fields) -> Document | DocumentError:
    raw_id = record.get(fields.id)
    doc_id = line_id if raw_id is None or str(raw_id).strip() == "" else str(raw_id)
    if fields.text not in record:
        return DocumentError(source, f"missing field {fields.text!r}", doc_id)
    text = record[fields.text]
    if not isinstance(text, str):
        return DocumentError(source, f"field {fields.text!r} must be a string, got {type(text).__name__}", doc_id)
    if not text.strip():
        return DocumentError(source, "empty text", doc_id)
    labels = None
    if fields.label:
        labels = parse_labels(record.get(fields.label), fields.label_delimiter)
        if labels is None:
            return DocumentError(source, f"missing or unreadable label field {fields.label!r}", doc_id)
    return Document(doc_id, text, source, labels)


def parse_labels(value, delimiter: str | None = None) -> list[str] | None:
    """Turn a label value into a list of labels, or ``None`` when it is missing or malformed.

    A list (or a string holding a JSON list) is taken as it is; a string is split on ``delimiter``
    when one is given; anything else is one label. An empty list is valid (no label applies).
    """
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError:
                return None
        elif delimiter:
            return [part.strip() for part in stripped.split(delimiter) if part.strip()]
        elif not stripped:
            return None
        else:
            return [stripped]
    if isinstance(value, list):
        if not all(isinstance(item, (str, int)) for item in value):
            return None
        return [str(item).strip() for item in value if str(item).strip()]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    return None
