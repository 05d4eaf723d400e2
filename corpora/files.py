"""Small readers shared by the corpus loaders, with errors that name the file and line."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from datasets import Dataset, Features, Sequence, Value

from corpora.registry import CorpusError

csv.field_size_limit(2**31 - 1)

LABEL = Features({"id": Value("string"), "text": Value("string"), "label": Value("string")})
LABELS = Features({"id": Value("string"), "text": Value("string"), "labels": Sequence(Value("string"))})
SUMMARY = Features({"id": Value("string"), "text": Value("string"), "summary": Value("string")})


def require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise CorpusError(f"{path}: file not found (is the data directory complete?)")
    return path


def read_csv_rows(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, row)`` for each CSV row, checking the header for ``columns``."""
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise CorpusError(f"{path}: missing column(s) {', '.join(missing)}")
            line = reader.line_num + 1
            for row in reader:
                yield line, row
                line = reader.line_num + 1
    except UnicodeDecodeError:
        raise CorpusError(f"{path}: invalid UTF-8 (near line {line})") from None
    except csv.Error as error:
        raise CorpusError(f"{path}: malformed CSV ({error})") from None


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = path.read_bytes().count(b"\n", 0, error.start) + 1
        raise CorpusError(f"{path}:{line}: invalid UTF-8") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{path}:{number}: malformed JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path}:{number}: expected a JSON object")
        yield number, record


def text_hash(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).lower().encode()).hexdigest()[:16]


def to_dataset(records: list[dict], features: Features) -> Dataset:
    """Build a Dataset with the standard columns first, keeping any extra columns as strings."""
    extra = [key for key in (records[0] if records else {}) if key not in features]
    full = Features({**features, **{key: Value("string") for key in extra}})
    return Dataset.from_list(records, features=full)
