"""The OpenAPI 3 document, generated from the app: every route and method comes from Flask's URL map,
summaries from the view docstrings, and request and response schemas from the ``@describe`` decorator
next to each view, so the spec cannot drift from the routes. ``/docs`` renders the same document."""

from __future__ import annotations

import html
import re

import nlp

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message", "details"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}}}
# "x-limit" marks where build_spec fills in the running service's limits and loaded names.
DOCUMENT = {"type": "object", "required": ["text"], "additionalProperties": False, "properties": {
    "id": {"type": ["string", "integer"], "minimum": -(2**63), "maximum": 2**63 - 1},
    "text": {"type": "string", "minLength": 1, "x-limit": "text"}}}
DOCUMENTS = {"type": "array", "minItems": 1, "items": DOCUMENT, "x-limit": "documents"}
# Jobs take any number of records and check each one as it runs: a bad record goes to the job's errors
# manifest instead of rejecting the whole upload.
JOB_DOCUMENTS = {"type": "array", "minItems": 1, "items": {"type": "object"}}
SPAN = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
CLASSIFICATION = {"type": "object", "required": ["id", "labels", "label_names", "scores"], "properties": {
    "id": {"type": "string"}, "label": {"type": "string"}, "labels": {"type": "array", "items": {"type": "string"}},
    "deidentified_text": {"type": "string"},
    "label_names": {"type": "array", "items": {"type": "string"}},
    "scores": {"type": "object", "additionalProperties": {"type": "number"}},
    "explanation": {"type": "array", "items": {"type": "object", "properties": {
        "label": {"type": "string"}, "term": {"type": "string"}, "weight": {"type": "number"},
        "spans": {"type": "array", "items": SPAN}}}}}}
SUMMARY = {"type": "object", "required": ["id", "summary", "sentences"], "properties": {
    "id": {"type": "string"}, "summary": {"type": "string"}, "deidentified_text": {"type": "string"},
    "sentences": {"type": "array", "items": {
        "type": "object", "required": ["text", "start", "end", "score"], "properties": {
            "text": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"},
            "score": {"type": "number"}}}}}}
DEIDENTIFIED = {"type": "object", "required": ["id", "text", "phi"], "properties": {
    "id": {"type": "string"}, "text": {"type": "string", "description": "the de-identified document"},
    "phi": {"type": "array", "items": {
        "type": "object", "required": ["type", "start", "end", "replacement_start", "replacement_end"], "properties": {
            "type": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"},
            "replacement_start": {"type": "integer"}, "replacement_end": {"type": "integer"}}}}}}
FHIR = {"type": "object", "required": ["resourceType"], "description": "FHIR R4 DocumentReference or Bundle with "
        "text/plain attachments (base64 data); options in the query string",
        "properties": {"resourceType": {"type": "string", "enum": ["DocumentReference", "Bundle"]}}}
UPLOAD = {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": ".jsonl, .csv, .tsv or .txt"}}}
MODEL = {"type": "object", "required": ["name", "version", "task", "labels"], "properties": {
    "name": {"type": "string"}, "version": {"type": "string"}, "task": {"type": "string"},
    "model_type": {"type": ["string", "null"]},
    "labels": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"},
                                                                            "name": {"type": "string"}}}},
    "dev_metrics": {"type": "object"}, "training": {"type": "object"}}}
JOB = {"type": "object", "required": ["id", "status", "operation", "progress", "timings"], "properties": {
    "id": {"type": "string"}, "operation": {"type": "string"},
    "status": {"type": "string", "enum": ["QUEUED", "RUNNING", "COMPLETED", "PARTIAL_SUCCESS", "FAILED",
                                          "CANCELLED"]},
    "options": {"type": "object"}, "attempts": {"type": "integer"}, "reason": {"type": ["string", "null"]},
    "data": {"type": "object", "properties": {"available": {"type": "boolean"},
                                              "deleted": {"type": ["string", "null"]},
                                              "delete_after": {"type": ["string", "null"]}}},
    "progress": {"type": "object", "properties": {"total": {"type": "integer"}, "processed": {"type": "integer"},
                                                  "failed": {"type": "integer"}}},
    "timings": {"type": "object"}}}
JSON_LINES = {"application/x-ndjson": {"schema": {"type": "string"}}}


def options_schema(cls, location: str = "body") -> dict:
    """JSON Schema properties of an operation's options model. In the query string and a form, a list is one
    comma-separated text (documented here as one item of the list)."""
    properties = {}
    for name, schema in cls.model_json_schema()["properties"].items():
        schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
        if schema.get("type") == "array":
            limit = {"sections": "section", "types": "phi_type"}.get(name)
            schema["items"] = {**schema["items"], "x-limit": limit} if limit else schema["items"]
            if location != "body":
                schema = {"type": "string", "description": schema.get("description", ""),
                          **({"x-limit": limit} if limit else {})}
        properties[name] = schema
    return properties


def describe(*, request: dict | None = None, responses: dict | None = None, query: dict | None = None,
             public: bool = False):
    """Attach OpenAPI facts to a view: request bodies by media type, responses by status (schemas, or
    ``{"content": ...}``), query parameters, and whether it needs no API key."""
    def attach(view):
        view.openapi = {"request": request, "responses": responses or {}, "query": query or {}, "public": public}
        return view
    return attach


def json_body(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _narrow(schema, limits: dict):
    """Fill the live limits and choices into a schema (documents per request, text length, loaded models)."""
    if isinstance(schema, list):
        return [_narrow(item, limits) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _narrow(value, limits) for key, value in schema.items()}
    marker = out.pop("x-limit", None)
    if marker in limits:
        out.update(limits[marker])
    return out


# A character Python's str.strip() keeps: JSON Schema's \S also counts \x1c-\x1f and \x85 as text, which the
# service (rightly) finds blank.
_NOT_BLANK = "[^\\t-\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"


def build_spec(app) -> dict:
    state = app.extensions["clinnlp"]
    from nlp.privacy.recognizers import PHI_TYPES
    from nlp.segmentation import section_rules

    rules = section_rules()
    limits = {
        "documents": {"maxItems": state.settings.max_documents},
        "text": {"maxLength": state.settings.max_document_chars, "pattern": _NOT_BLANK},
        "model": {"enum": sorted(state.registry.classifiers)},
        "method": {"enum": sorted(state.registry.summarizers)},
        "section": {"enum": sorted(set(rules["headings"]) | set(rules["aliases"]))},
        "phi_type": {"enum": list(PHI_TYPES)},
    }
    paths: dict = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        facts = getattr(view, "openapi", {"request": None, "responses": {}, "query": {}, "public": False})
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = {"operationId": f"{rule.endpoint}.{method.lower()}",
                         "summary": (view.__doc__ or rule.endpoint).strip().split("\n")[0],
                         "responses": {}}
            parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                          for name in rule.arguments]
            parameters += [{"name": name, "in": "query", "required": False, "schema": _narrow(schema, limits)}
                           for name, schema in facts["query"].items()]
            if parameters:
                operation["parameters"] = parameters
            if facts["request"]:
                operation["requestBody"] = {"required": True, "content": {
                    media: {"schema": _narrow(schema, limits)} for media, schema in facts["request"].items()}}
            for status, answer in facts["responses"].items():
                content = answer.get("content") if isinstance(answer, dict) and "content" in answer \
                    else json_body(answer)
                operation["responses"][str(status)] = {"description": str(status), "content": content}
            operation["responses"]["default"] = {"description": "error", "content": json_body(
                {"$ref": "#/components/schemas/Error"})}
            if facts["public"]:
                operation["security"] = []
            paths.setdefault(path, {})[method.lower()] = operation
    return {"openapi": "3.1.0",
            "info": {"title": "clinnlp", "version": nlp.__version__,
                     "description": "Classify and summarize clinical notes and medical literature, offline."},
            "servers": [{"url": "/"}],
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": {"Error": ERROR},
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}]}


DOCS_STYLE = "body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;border-bottom:1px solid #ddd}"


def docs_policy() -> str:
    """The Content-Security-Policy of /docs: its one inline stylesheet (by hash), nothing else."""
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(DOCS_STYLE.encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{digest}'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'")


def docs_page(spec: dict) -> str:
    """A self-contained HTML page (no scripts, nothing from the network) listing the operations of the spec."""
    rows = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            bodies = ", ".join(operation.get("requestBody", {}).get("content", {})) or "-"
            auth = "no key" if operation.get("security") == [] else "key"
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(operation['summary'])}</td><td>{html.escape(bodies)}</td><td>{auth}</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>clinnlp API</title>"
            f"<style>{DOCS_STYLE}</style></head><body><h1>clinnlp API " + html.escape(spec["info"]["version"]) + "</h1>"
            "<p>The machine-readable spec: <a href='/openapi.json'>/openapi.json</a>. Send "
            "<code>Authorization: Bearer &lt;key&gt;</code> to every route marked 'key'.</p>"
            "<table><tr><th>method</th><th>path</th><th>what it does</th><th>request bodies</th><th>auth</th></tr>"
            + "".join(rows) + "</table></body></html>")
