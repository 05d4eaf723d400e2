"""A job's JSON-lines results as CSV, for people who open results in a spreadsheet.

One row per result line. Columns come from the records themselves, so every operation's results convert the same
way: a text or number is one cell; a mapping of plain values (a classifier's ``scores``) becomes one column per
key (``scores.C14``); a list of plain values (``labels``) is joined with ``"; "``; anything deeper (explanations,
summary sentences with offsets, concepts) is kept whole as JSON in its cell. A cell that a spreadsheet would run
as a formula (text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``:
note text is untrusted input, and a result file must not turn into a command when opened.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _lines(chunks: Iterable[bytes]) -> Iterator[dict]:
    rest = b""
    for chunk in chunks:
        rest += chunk
        *whole, rest = rest.split(b"\n")
        for line in whole:
            if line.strip():
                yield json.loads(line)
    if rest.strip():
        yield json.loads(rest)


def _plain(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _flatten(record: dict) -> dict:
    row = {}
    for key, value in record.items():
        if isinstance(value, dict) and all(_plain(v) for v in value.values()):
            row.update({f"{key}.{inner}": v for inner, v in value.items()})
        elif isinstance(value, list) and all(_plain(v) for v in value):
            row[key] = "; ".join("" if v is None else str(v) for v in value)
        elif _plain(value):
            row[key] = value
        else:
            row[key] = json.dumps(value, ensure_ascii=False)
    return row


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def results_csv(open_chunks: Callable[[], Iterable[bytes]]) -> Iterator[str]:
    """CSV text, in pieces, of the JSON lines that ``open_chunks()`` yields (called twice: once to find every
    column, once to write the rows, so memory stays flat however long the file is)."""
    columns: dict[str, None] = {}
    for record in _lines(open_chunks()):
        columns.update(dict.fromkeys(_flatten(record)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(name) for name in columns])
    for record in _lines(open_chunks()):
        row = _flatten(record)
        writer.writerow([_cell(row.get(name)) for name in columns])
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
