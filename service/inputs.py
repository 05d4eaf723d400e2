"""Documents and options from a request body: JSON or ``text/plain``, validated against the limits.

Bad input gets 400 (unparseable), 413 (over a limit), 415 (media type) or 422 (a field fails validation);
messages name the field and the limit, never the text.
"""

from __future__ import annotations

import orjson
from flask import request

from nlp.documents import Document
from service.config import Settings
from service.errors import ApiError

JSON_TYPES = ("application/json", "application/fhir+json")


def read_json() -> dict:
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
    return body


def read_documents(settings: Settings) -> tuple[list[Document], dict]:
    """The request's documents and its other fields (options); query parameters for ``text/plain``."""
    mimetype = request.mimetype
    if mimetype in JSON_TYPES:
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
        raise ApiError(415, f"unsupported media type {mimetype or 'none'!r}; send application/json or text/plain",
                       {"supported": ["application/json", "text/plain"]})
    if len(documents) > settings.max_documents:
        raise ApiError(413, f"{len(documents)} documents in one request; the limit is {settings.max_documents} "
                            "(send larger batches as a job)", {"limit": settings.max_documents})
    return documents, options


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
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise ApiError(422, f"documents[{index}].id must be a string or an integer", {**where, "field": "id"})
    return Document(str(doc_id), text, f"documents[{index}]")


def positive_int(options: dict, name: str) -> int | None:
    value = options.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError(422, f"'{name}' must be a whole number of at least 1", {"field": name})
    return value


def flag(options: dict, name: str, default: bool) -> bool:
    value = options.get(name, default)
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
    if not isinstance(value, bool):
        raise ApiError(422, f"'{name}' must be true or false", {"field": name})
    return value
