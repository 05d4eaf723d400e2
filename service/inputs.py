"""Documents and option fields from a request body: JSON, ``text/plain``, FHIR or a multipart upload.

Bad input gets 400 (unparseable), 413 (over a limit), 415 (media type) or 422 (a field fails validation);
messages name the field and the limit, never the text. Where options come from is decided here once for every
input kind (see :mod:`service.options`): a JSON body's fields, a form's fields (and its JSON ``options``
field), and the query string.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from flask import g, request

from nlp.documents import Document, Stream
from service.config import Settings
from service.errors import ApiError

JSON_TYPES = ("application/json", "application/fhir+json")
UPLOAD_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv", ".txt")
UPLOADS = "uploads"


@dataclass
class Fields:
    """The option fields a request carries besides its documents: JSON-typed ones and text ones."""

    json: dict = field(default_factory=dict)
    text: dict = field(default_factory=dict)

    def pop(self, name: str):
        """Take out a non-option field (a job's ``operation``) from wherever it was given."""
        for values in (self.json, self.text):
            if name in values:
                return values.pop(name)
        return request.args.get(name)


def read_json() -> dict:
    """The JSON object in the body, parsed once per request."""
    if "json_body" in g:
        return g.json_body
    raw = request.get_data(cache=True)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, f"the body is not valid UTF-8 (byte {error.start + 1})") from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"malformed JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object")
    g.json_body = body
    return body


def form_fields() -> Fields:
    """A multipart form's fields other than ``file``: text fields, and the JSON object in ``options``."""
    text = request.form.to_dict()
    typed = {}
    if "options" in text:
        try:
            typed = orjson.loads(text.pop("options"))
        except orjson.JSONDecodeError:
            raise ApiError(422, "'options' must be a JSON object", {"field": "options"}) from None
        if not isinstance(typed, dict):
            raise ApiError(422, "'options' must be a JSON object", {"field": "options"})
    return Fields(typed, text)


def uploaded_file():
    """The multipart ``file`` and its suffix, checked before anything is written."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(422, "multipart upload needs a 'file' field", {"field": "file"})
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ApiError(415, f"unsupported file type {suffix or 'none'!r}", {"supported": list(UPLOAD_SUFFIXES)})
    return upload, suffix


def upload_name(upload) -> str:
    """The uploaded file's own name without folders (for error sources and ``.txt`` document ids)."""
    return Path(upload.filename.replace("\\", "/")).name or "upload"


def sweep_uploads(state_dir: str | Path) -> int:
    """Remove upload files an older version left behind (uploads are no longer written to disk); returns how
    many."""
    folder = Path(state_dir) / UPLOADS
    removed = 0
    for leftover in folder.glob("upload-*") if folder.is_dir() else ():
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def upload_stream(upload, suffix: str) -> Stream:
    """An upload as a :class:`nlp.documents.Stream` read from memory (bounded by the request size limit): nothing is
    written to disk. A ``.txt`` upload is one document, read as a one-record JSONL file."""
    data = upload.stream.read()
    name = upload_name(upload)
    if suffix == ".txt":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ApiError(400, f"the file is not valid UTF-8 (byte {error.start + 1})") from None
        data = orjson.dumps({"id": Path(name).stem, "text": text}) + b"\n"
    return Stream(lambda: io.BytesIO(data), "jsonl" if suffix in (".txt", ".jsonl", ".ndjson") else suffix[1:], name)


def documents_from_file(source: Stream, settings: Settings) -> list[Document]:
    """Every record of an uploaded file; any bad record rejects the request (422, listing them)."""
    from nlp.documents import DocumentError, InputError
    from nlp.documents import read_documents as read_file

    documents, problems = [], []
    try:
        for item in read_file(source):
            if isinstance(item, DocumentError):
                problems.append({"record": item.source.rsplit(":", 1)[-1], "id": item.id, "reason": item.reason})
            else:
                documents.append(item)
            if len(documents) > settings.max_documents:
                break
    except InputError as error:
        raise ApiError(422, str(error).split(": ", 1)[-1]) from None
    if problems:
        raise ApiError(422, f"{len(problems)} records of the file are invalid", {"records": problems[:100]})
    if not documents:
        raise ApiError(422, "the file holds no document")
    return _checked(documents, settings)


def read_documents(settings: Settings) -> tuple[list[Document], Fields]:
    """The request's documents and its option fields (see :mod:`service.options` for where options come from)."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        upload, suffix = uploaded_file()
        fields = form_fields()
        documents = documents_from_file(upload_stream(upload, suffix), settings)
    elif mimetype in JSON_TYPES and _is_fhir(read_json()):
        from service.fhir import documents_from_fhir

        documents, fields = _checked(documents_from_fhir(read_json()), settings), Fields()
    elif mimetype in JSON_TYPES:
        body = dict(read_json())
        items = body.pop("documents", None)
        if not isinstance(items, list) or not items:
            raise ApiError(422, "'documents' must be a non-empty list of {\"id\", \"text\"} objects",
                           {"field": "documents"})
        if len(items) > settings.max_documents:
            raise _too_many(len(items), settings)
        documents, fields = [_document(item, index, settings) for index, item in enumerate(items)], Fields(body)
    elif mimetype == "text/plain":
        raw = request.get_data(cache=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError(400, f"the body is not valid UTF-8 (byte {error.start + 1})") from None
        documents, fields = [_document({"id": "1", "text": text}, 0, settings)], Fields()
    else:
        raise ApiError(415, f"unsupported media type {mimetype or 'none'!r}",
                       {"supported": ["application/json", "text/plain", "multipart/form-data",
                                      "application/fhir+json"]})
    if len(documents) > settings.max_documents:
        raise _too_many(len(documents), settings)
    return documents, fields


def _too_many(count: int, settings: Settings) -> ApiError:
    return ApiError(413, f"{count} documents in one request; the limit is {settings.max_documents} "
                         "(send larger batches as a job)", {"limit": settings.max_documents})


def _is_fhir(body: dict) -> bool:
    from service.fhir import is_fhir

    return is_fhir(body)


def _checked(documents: list[Document], settings: Settings) -> list[Document]:
    """Documents from a file or a FHIR resource, through the same checks and limits as JSON ones."""
    return [_document({"id": doc.id, "text": doc.text}, index, settings) for index, doc in enumerate(documents)]


def _document(item, index: int, settings: Settings) -> Document:
    where = {"document": index}
    if not isinstance(item, dict):
        raise ApiError(422, f"documents[{index}] must be an object", where)
    unknown = sorted(set(item) - {"id", "text"})
    if unknown:
        raise ApiError(422, f"documents[{index}] has unknown field(s) {', '.join(map(repr, unknown))}; "
                            "a document is {\"id\", \"text\"}", {**where, "fields": unknown})
    text = item.get("text")
    if not isinstance(text, str):
        raise ApiError(422, f"documents[{index}].text must be a string", {**where, "field": "text"})
    if not text.strip():
        raise ApiError(422, f"documents[{index}].text is empty", {**where, "field": "text"})
    if len(text) > settings.max_document_chars:
        raise ApiError(413, f"documents[{index}].text has {len(text)} characters; the limit is "
                            f"{settings.max_document_chars}", {**where, "limit": settings.max_document_chars})
    doc_id = item.get("id", index + 1)
    if isinstance(doc_id, float) and doc_id.is_integer() and abs(doc_id) < 2**53:
        doc_id = int(doc_id)  # JSON has one number type: 312.0 is the integer 312
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or \
            (isinstance(doc_id, int) and not -(2**63) <= doc_id < 2**63):
        raise ApiError(422, f"documents[{index}].id must be a string or an integer", {**where, "field": "id"})
    return Document(str(doc_id), text, f"documents[{index}]")

