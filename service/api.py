"""The ``/v1`` resources: classify, summarize, models, jobs. One blueprint each."""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
from flask import Blueprint, current_app, g, jsonify, request, send_file

from service.errors import ApiError
from service.inputs import JSON_TYPES, flag, positive_int, read_documents, read_json, save_upload
from service.observability import count_work
from service.openapi import (CLASSIFICATION, CLASSIFY_OPTIONS, DOCUMENTS, FHIR, JOB, JOB_DOCUMENTS, JSON_LINES, MODEL,
                             SUMMARIZE_OPTIONS, SUMMARY, UPLOAD, describe)

_CLASSIFY_JSON = {"type": "object", "required": ["documents"],
                  "properties": {**CLASSIFY_OPTIONS, "documents": DOCUMENTS}}
_SUMMARIZE_JSON = {"type": "object", "required": ["documents"],
                   "properties": {**SUMMARIZE_OPTIONS, "documents": DOCUMENTS}}
_QUERY_CLASSIFY = {"model": {"type": "string", "x-limit": "model"}, "explain": {"type": "boolean"}}
_QUERY_SUMMARIZE = {"method": {"type": "string", "x-limit": "method"}, "max_words": {"type": "integer", "minimum": 1},
                    "max_sentences": {"type": "integer", "minimum": 1},
                    "sections": {"type": "string", "x-limit": "section"}}
_PLAIN_TEXT = {"type": "string", "minLength": 1, "x-limit": "text"}

classify_bp = Blueprint("classify", __name__, url_prefix="/v1")
summarize_bp = Blueprint("summarize", __name__, url_prefix="/v1")
models_bp = Blueprint("models", __name__, url_prefix="/v1")
jobs_bp = Blueprint("jobs", __name__, url_prefix="/v1")


def _state():
    return current_app.extensions["clinnlp"]


CLASSIFY_FIELDS = ("model", "explain")
SUMMARIZE_FIELDS = ("method", "max_words", "max_sentences", "sections")


def _with_query(options: dict, check) -> dict:
    """The options of a JSON body are in the body; a query string sent with it is still checked (a wrong
    value there is an error, not silently ignored). ``text/plain`` and FHIR bodies take theirs from the query."""
    query = request.args.to_dict()
    known = CLASSIFY_FIELDS if check is classify_options else SUMMARIZE_FIELDS
    unknown = sorted(name for name in query if name not in known)
    if unknown:
        raise ApiError(422, f"unknown query parameter(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}",
                       {"fields": unknown})
    if query and request.mimetype == "application/json" and not options.get("resourceType"):
        check(query, partial=True)
    return options


def classify_options(options: dict, partial: bool = False) -> dict:
    """Validated classification options: ``model`` (required, loaded) and ``explain``."""
    classifiers = _state().registry.classifiers
    if partial and "model" not in options:
        return {"explain": flag(options, "explain", True)}
    name = options.get("model", _state().settings.default_classifier or next(iter(sorted(classifiers)), None))
    if not isinstance(name, str) or not name:
        raise ApiError(422, "'model' must be a model name", {"field": "model", "models": sorted(classifiers)})
    if name not in classifiers:
        raise ApiError(404, f"no model {name!r}", {"models": sorted(classifiers)})
    return {"model": name, "explain": flag(options, "explain", True)}


def summarize_options(options: dict, partial: bool = False) -> dict:
    """Validated summarization options: ``method``, ``max_words``, ``max_sentences``, ``sections``."""
    summarizers = _state().registry.summarizers
    default = "extractive" if "extractive" in summarizers else next(iter(summarizers), "extractive")
    method = options.get("method", default)
    if not isinstance(method, str) or method not in summarizers:
        raise ApiError(422, f"unknown method {method!r}" if isinstance(method, str) else "'method' must be a string", {"field": "method", "methods": sorted(summarizers)})
    sections = options.get("sections")
    if "sections" in options and sections is None:
        raise ApiError(422, "'sections' must be a list of section names", {"field": "sections"})
    if isinstance(sections, str):
        if not sections.strip():
            raise ApiError(422, "'sections' is empty: name one or more sections, or leave it out", {"field": "sections"})
        sections = [s for s in sections.split(",") if s.strip()]
    if sections is not None and not (isinstance(sections, list) and all(isinstance(s, str) for s in sections)):
        raise ApiError(422, "'sections' must be a list of section names", {"field": "sections"})
    if sections:
        from nlp.segmentation import resolve_sections

        try:
            resolve_sections(sections)
        except ValueError as error:
            raise ApiError(422, str(error), {"field": "sections"}) from None
    return {"method": method, "max_words": positive_int(options, "max_words"),
            "max_sentences": positive_int(options, "max_sentences"), "sections": sections or None}


@classify_bp.post("/classify")
@describe(request={"application/json": _CLASSIFY_JSON, "text/plain": _PLAIN_TEXT,
                   "application/fhir+json": FHIR,
                   "multipart/form-data": {**UPLOAD, "properties": {**UPLOAD["properties"], **CLASSIFY_OPTIONS}}},
          query=_QUERY_CLASSIFY,
          responses={200: {"type": "object", "required": ["model", "results"], "properties": {
              "model": {"type": "object"}, "results": {"type": "array", "items": CLASSIFICATION}}}})
def classify():
    """Classify documents with a loaded model: labels, calibrated scores, explanations with offsets."""
    state = _state()
    documents, options = read_documents(state.settings)
    chosen = classify_options(_with_query(options, classify_options))
    count_work(len(documents), sum(len(d.text) for d in documents))
    model = state.registry.classifiers[chosen["model"]]
    results = state.registry.classify(chosen["model"], documents, chosen["explain"])
    return jsonify({"model": {"name": model.name, "version": model.version}, "results": results})


@summarize_bp.post("/summarize")
@describe(request={"application/json": _SUMMARIZE_JSON, "text/plain": _PLAIN_TEXT,
                   "application/fhir+json": FHIR,
                   "multipart/form-data": {**UPLOAD, "properties": {**UPLOAD["properties"], **SUMMARIZE_OPTIONS}}},
          query=_QUERY_SUMMARIZE,
          responses={200: {"type": "object", "required": ["method", "results"], "properties": {
              "method": {"type": "string"}, "results": {"type": "array", "items": SUMMARY}}}})
def summarize():
    """Summarize documents; extractive summaries give each sentence's offsets in the source."""
    state = _state()
    documents, options = read_documents(state.settings)
    chosen = summarize_options(_with_query(options, summarize_options))
    count_work(len(documents), sum(len(d.text) for d in documents))
    try:
        with state.registry.lock:
            summaries = state.registry.summarizers[chosen["method"]].summarize(
                [d.text for d in documents], max_words=chosen["max_words"], max_sentences=chosen["max_sentences"],
                sections=chosen["sections"])
    except ValueError as error:  # a method's own limit (graph methods and very long texts)
        raise ApiError(413, str(error), {"field": "method"}) from None
    return jsonify({"method": chosen["method"],
                    "results": [{"id": d.id, **s.as_dict()} for d, s in zip(documents, summaries)]})


@models_bp.get("/models")
@describe(responses={200: {"type": "object", "required": ["classifiers", "summarizers"], "properties": {
    "classifiers": {"type": "array", "items": MODEL}, "summarizers": {"type": "array", "items": {"type": "string"}}}}})
def list_models():
    """The loaded classifiers (task, labels, version, dev metrics) and summarization methods."""
    registry = _state().registry
    return jsonify({"classifiers": [registry.describe(m) for m in registry.classifiers.values()],
                    "summarizers": sorted(registry.summarizers)})


@models_bp.get("/models/<name>")
@describe(responses={200: MODEL})
def get_model(name: str):
    """One loaded classifier."""
    registry = _state().registry
    if name not in registry.classifiers:
        raise ApiError(404, f"no model {name!r}", {"models": sorted(registry.classifiers)})
    return jsonify(registry.describe(registry.classifiers[name]))


@jobs_bp.post("/jobs")
@describe(request={"multipart/form-data": {**UPLOAD, "required": ["file", "operation"], "properties": {
    **UPLOAD["properties"], "operation": {"type": "string", "enum": ["classify", "summarize"]},
    **CLASSIFY_OPTIONS, **SUMMARIZE_OPTIONS}},
    "application/json": {"oneOf": [
        {"type": "object", "required": ["operation", "documents"], "additionalProperties": False,
         "properties": {"operation": {"const": "classify"}, "documents": JOB_DOCUMENTS, **CLASSIFY_OPTIONS}},
        {"type": "object", "required": ["operation", "documents"], "additionalProperties": False,
         "properties": {"operation": {"const": "summarize"}, "documents": JOB_DOCUMENTS, **SUMMARIZE_OPTIONS}}]}},
    responses={202: JOB})
def submit_job():
    """Start a batch job: a file upload (multipart ``file`` + ``operation`` and its options) or JSON ``{"operation",
    "documents": [...], ...options}``; answered ``202`` once the input is safely on disk."""
    state = _state()
    uploads = Path(state.settings.state_dir) / "uploads"
    if request.mimetype == "multipart/form-data":
        path, suffix, options = save_upload(uploads)
    elif request.mimetype in JSON_TYPES:
        options = read_json()
        items = options.pop("documents", None)
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise ApiError(422, "'documents' must be a non-empty list of objects", {"field": "documents"})
        uploads.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=uploads, suffix=".jsonl", delete=False) as handle:
            for item in items:
                handle.write(orjson.dumps(item) + b"\n")
        path, suffix = Path(handle.name), ".jsonl"
    else:
        raise ApiError(415, f"unsupported media type {request.mimetype or 'none'!r}",
                       {"supported": ["multipart/form-data", "application/json"]})
    try:
        operation = options.pop("operation", None)
        if operation not in ("classify", "summarize"):
            raise ApiError(422, "'operation' must be 'classify' or 'summarize'", {"field": "operation"})
        allowed = CLASSIFY_FIELDS if operation == "classify" else SUMMARIZE_FIELDS
        stray = sorted(name for name in options if name not in allowed)
        if stray:
            raise ApiError(422, f"{', '.join(map(repr, stray))} do(es) not apply to {operation}; it takes "
                                f"{', '.join(allowed)}", {"fields": stray})
        chosen = classify_options(options) if operation == "classify" else summarize_options(options)
        status = state.jobs.submit(g.get("key_id"), operation, chosen, path, suffix)
    finally:
        path.unlink(missing_ok=True)
    count_work(status["progress"]["total"], 0)
    return jsonify(status), 202, {"Location": f"/v1/jobs/{status['id']}"}


def _json_lines(path: Path):
    """A JSON-lines file as the response (empty until the job writes it)."""
    if not path.exists():
        return current_app.response_class(b"", mimetype="application/x-ndjson")
    return send_file(path, mimetype="application/x-ndjson", max_age=0)


def _job_or_404(job_id: str) -> dict:
    status = _state().jobs.status(job_id, g.get("key_id"))
    if status is None:
        raise ApiError(404, f"no job {job_id!r}")
    return status


@jobs_bp.get("/jobs/<job_id>")
@describe(responses={200: JOB})
def job_status(job_id: str):
    """A job's status, progress counts and timings."""
    return jsonify(_job_or_404(job_id))


@jobs_bp.get("/jobs/<job_id>/results")
@describe(responses={200: {"content": JSON_LINES}})
def job_results(job_id: str):
    """A job's results as JSON lines (what is written so far while the job runs)."""
    _job_or_404(job_id)
    return _json_lines(_state().jobs.results_path(job_id))


@jobs_bp.get("/jobs/<job_id>/errors")
@describe(responses={200: {"content": JSON_LINES}})
def job_errors(job_id: str):
    """The manifest of records that failed: one ``{"id", "source", "reason"}`` per line."""
    _job_or_404(job_id)
    return _json_lines(_state().jobs.errors_path(job_id))


@jobs_bp.delete("/jobs/<job_id>")
@describe(responses={200: JOB})
def cancel_job(job_id: str):
    """Cancel a job (at once if queued, after its current batch if running)."""
    status = _state().jobs.cancel(job_id, g.get("key_id"))
    if status is None:
        raise ApiError(404, f"no job {job_id!r}")
    return jsonify(status)
