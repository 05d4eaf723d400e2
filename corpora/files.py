"""Small readers shared by the corpus loaders, with errors that name the file and line."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from datasets import Dataset, Features, Sequence, Value

from corpora.registry import CorpusError

LABEL = Features({"id": Value("string"), "text": Value("string"), "label": Value("string")})
LABELS = Features({"id": Value("string"), "text": Value("string"), "labels": Sequence(Value("string"))})
SUMMARY = Features({"id": Value("string"), "text": Value("string"), "summary": Value("string")})


def require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise CorpusError(f"{path}: file not found (is the data directory complete?)")
    return path


def _strict_records(path: Path, required: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """``(line, record)`` of a CSV or JSONL corpus file through the project's one reader of such files
    (:func:`nlp.documents.read_records`); a corpus is curated data, so a bad record stops the load."""
    from nlp.documents import DocumentError, InputError, read_records

    try:
        for item in read_records(path, lambda record, source, line: (int(line), record), required or []):
            if isinstance(item, DocumentError):
                raise CorpusError(f"{item.source}: {item.reason}")
            yield item
    except InputError as error:
        raise CorpusError(str(error)) from None


def read_csv_rows(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, row)`` for each CSV row, checking the header for ``columns``."""
    return _strict_records(path, columns)


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = path.read_bytes().count(b"\n", 0, error.start) + 1
        raise CorpusError(f"{path}:{line}: invalid UTF-8") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, record)`` for each JSON object of a JSONL file."""
    return _strict_records(path)


def text_hash(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).lower().encode()).hexdigest()[:16]


def to_dataset(records: list[dict], features: Features) -> Dataset:
    """Build a Dataset with the standard columns first, keeping any extra columns as strings."""
    extra = [key for key in (records[0] if records else {}) if key not in features]
    full = Features({**features, **{key: Value("string") for key in extra}})
    return Dataset.from_list(records, features=full)
