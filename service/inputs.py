"""Documents and options from a request body: JSON or ``text/plain``, validated against the limits.

Bad input gets 400 (unparseable), 413 (over a limit), 415 (media type) or 422 (a field fails validation);
messages name the field and the limit, never the text.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
from flask import g, request

from nlp.documents import Document
from service.config import Settings
from service.errors import ApiError

JSON_TYPES = ("application/json", "application/fhir+json")


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


UPLOAD_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv", ".txt")


def save_upload(folder: Path) -> tuple[Path, str, dict]:
    """The multipart ``file`` saved under ``folder``, its suffix, and the form's other fields as options.

    A ``.txt`` upload is one document; it is saved as a one-line JSONL file so every upload reads alike.
    """
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(422, "multipart upload needs a 'file' field", {"field": "file"})
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ApiError(415, f"unsupported file type {suffix or 'none'!r}", {"supported": list(UPLOAD_SUFFIXES)})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"upload-{uuid.uuid4().hex}{suffix}"
    upload.save(path)
    if suffix == ".txt":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            path.unlink()
            raise ApiError(400, f"the file is not valid UTF-8 (byte {error.start + 1})") from None
        jsonl = path.with_suffix(".jsonl")
        jsonl.write_bytes(orjson.dumps({"id": Path(upload.filename).stem, "text": text}) + b"\n")
        path.unlink()
        path, suffix = jsonl, ".jsonl"
    options = request.form.to_dict()
    if "options" in options:
        try:
            extra = orjson.loads(options.pop("options"))
        except orjson.JSONDecodeError:
            raise ApiError(422, "'options' must be a JSON object", {"field": "options"}) from None
        if not isinstance(extra, dict):
            raise ApiError(422, "'options' must be a JSON object", {"field": "options"})
        options.update(extra)
    return path, suffix, options


def documents_from_file(path: Path, settings: Settings) -> list[Document]:
    """Every record of an uploaded file; any bad record rejects the request (422, listing them)."""
    from nlp.documents import DocumentError, InputError
    from nlp.documents import read_documents as read_file

    documents, problems = [], []
    try:
        for item in read_file(path):
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


def _fhir_body() -> bool:
    from service.fhir import is_fhir

    body = read_json()
    return is_fhir(body)


def read_documents(settings: Settings) -> tuple[list[Document], dict]:
    """The request's documents and its other fields (options); query parameters for ``text/plain``."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        path, _, options = save_upload(Path(settings.state_dir) / "uploads")
        try:
            documents = documents_from_file(path, settings)
        finally:
            path.unlink(missing_ok=True)
    elif mimetype in JSON_TYPES and _fhir_body():
        from service.fhir import documents_from_fhir

        documents = _checked(documents_from_fhir(read_json()), settings)
        options = request.args.to_dict()
    elif mimetype in JSON_TYPES:
        body = read_json()
        items = body.get("documents")
        if not isinstance(items, list) or not items:
            raise ApiError(422, "'documents' must be a non-empty list of {\"id\", \"text\"} objects",
                           {"field": "documents"})
        documents = [_document(item, index, settings) for index, item in enumerate(items)]
        options = {k: v for k, v in body.items() if k != "documents"}
    elif mimetype == "text/plain":
        raw = request.get_data(cache=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError(400, f"the body is not valid UTF-8 (byte {error.start + 1})") from None
        documents = [_document({"id": "1", "text": text}, 0, settings)]
        options = request.args.to_dict()
    else:
        raise ApiError(415, f"unsupported media type {mimetype or 'none'!r}",
                       {"supported": ["application/json", "text/plain", "multipart/form-data"]})
    if len(documents) > settings.max_documents:
        raise ApiError(413, f"{len(documents)} documents in one request; the limit is {settings.max_documents} "
                            "(send larger batches as a job)", {"limit": settings.max_documents})
    return documents, options


def _checked(documents: list[Document], settings: Settings) -> list[Document]:
    """Documents from a file or a FHIR resource, through the same checks and limits as JSON ones."""
    return [_document({"id": doc.id, "text": doc.text}, index, settings) for index, doc in enumerate(documents)]


def _document(item, index: int, settings: Settings) -> Document:
    where = {"document": index}
    if not isinstance(item, dict):
        raise ApiError(422, f"documents[{index}] must be an object", where)
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


def positive_int(options: dict, name: str) -> int | None:
    if name not in options:
        return None
    value = options[name]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 5.0 is the integer 5
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError(422, f"'{name}' must be a whole number of at least 1", {"field": name})
    return value


def flag(options: dict, name: str, default: bool) -> bool:
    value = options.get(name, default) if name in options else default
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
    if not isinstance(value, bool):
        raise ApiError(422, f"'{name}' must be true or false", {"field": name})
    return value
