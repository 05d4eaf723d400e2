"""The ``/v1`` resources: one endpoint per operation (classify, summarize, ...), models, jobs.

Every operation endpoint is the same three steps: read the documents and option fields
(:mod:`service.inputs`), validate the options with the operation's model (:mod:`service.options`), and call the
writer that model builds, the same one a job runs.
"""

from __future__ import annotations

import orjson
from flask import Blueprint, current_app, g, jsonify, request, stream_with_context

from service.batching import BatchTimeout
from service.errors import ApiError
from service.inputs import JSON_TYPES, Fields, form_fields, read_documents, read_json, upload_job_input, uploaded_file
from service.jobs import QuotaExceeded
from service.observability import count_work
from service.openapi import (ANALYSIS, CLASSIFICATION, DEIDENTIFIED, FHIR, JOB, JOB_DOCUMENTS, JSON_LINES,
                             MODEL, SUMMARY, UPLOAD, describe, documents_schema, options_schema)
from service.options import (OPERATIONS, AnalyzeOptions, ClassifyOptions, DeidentifyOptions, Options, SummarizeOptions,
                             read_options, unknown_model)
from service.storage import ERRORS, RESULTS

operations_bp = Blueprint("operations", __name__, url_prefix="/v1")
models_bp = Blueprint("models", __name__, url_prefix="/v1")
jobs_bp = Blueprint("jobs", __name__, url_prefix="/v1")
admin_bp = Blueprint("admin", __name__, url_prefix="/v1")

_PLAIN_TEXT = {"type": "string", "minLength": 1, "x-limit": "text"}


def _state():
    return current_app.extensions["clinnlp"]


def run_operation(cls: type[Options]):
    """Read, validate, run: the body of every synchronous operation endpoint."""
    state = _state()
    documents, fields = read_documents(state.settings, cls.document_fields)
    options = read_options(cls, fields.json, fields.text, request.args.to_dict()).resolve(state)
    count_work(len(documents), sum(len(d.text) for d in documents))
    return jsonify({**options.header(state.registry), "results": run_writer(options, documents)})


def run_writer(options: Options, documents) -> list[dict]:
    """The results of an operation on ``documents``: its writer, run through its model's batcher (the API's and the
    pages' one way)."""
    state = _state()
    try:
        return state.batchers.writer(options, state.registry)(documents)
    except BatchTimeout as error:
        raise ApiError(503, f"busy: {error}; retry shortly or send the work as a job", {"retry_after_seconds": 5}) \
            from None
    except ValueError as error:  # a method's own limit (graph summarizers and very long texts)
        raise ApiError(413, str(error)) from None


def _requests(cls: type[Options]) -> dict:
    """The request bodies an operation endpoint takes, for the OpenAPI document."""
    properties = options_schema(cls)
    return {"application/json": {"type": "object", "required": ["documents"], "additionalProperties": False,
                                 "properties": {**properties, "documents": documents_schema(cls.document_fields)}},
            "text/plain": _PLAIN_TEXT, "application/fhir+json": FHIR,
            "multipart/form-data": {**UPLOAD, "properties": {**UPLOAD["properties"],
                                                             **options_schema(cls, "form")}}}


@operations_bp.post("/classify")
@describe(request=_requests(ClassifyOptions), query=options_schema(ClassifyOptions, "query"),
          responses={200: {"type": "object", "required": ["model", "results"], "properties": {
              "model": {"type": "object"}, "results": {"type": "array", "items": CLASSIFICATION}}}})
def classify():
    """Classify documents with a loaded model: labels, calibrated scores, explanations with offsets."""
    return run_operation(ClassifyOptions)


@operations_bp.post("/summarize")
@describe(request=_requests(SummarizeOptions), query=options_schema(SummarizeOptions, "query"),
          responses={200: {"type": "object", "required": ["method", "results"], "properties": {
              "method": {"type": "string"}, "results": {"type": "array", "items": SUMMARY}}}})
def summarize():
    """Summarize documents; extractive summaries give each sentence's offsets in the source."""
    return run_operation(SummarizeOptions)


@operations_bp.post("/deidentify")
@describe(request=_requests(DeidentifyOptions), query=options_schema(DeidentifyOptions, "query"),
          responses={200: {"type": "object", "required": ["operator", "results"], "properties": {
              "operator": {"type": "string"}, "results": {"type": "array", "items": DEIDENTIFIED}}}})
def deidentify():
    """Remove the HIPAA Safe Harbor identifiers: the de-identified text and where each identifier was (never its
    value)."""
    return run_operation(DeidentifyOptions)


@operations_bp.post("/analyze")
@describe(request=_requests(AnalyzeOptions), query=options_schema(AnalyzeOptions, "query"),
          responses={200: {"type": "object", "required": ["lexicon", "results"], "properties": {
              "lexicon": {"type": "object"}, "results": {"type": "array", "items": ANALYSIS}}}})
def analyze():
    """Clinical analysis: sections, concept mentions and their assertions (negated, historical, hypothetical,
    family, uncertain), with character offsets; a document's optional ``terms`` are looked for in it alone."""
    return run_operation(AnalyzeOptions)


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
        raise unknown_model(name, registry.classifiers)
    return jsonify(registry.describe(registry.classifiers[name]))


def _job_options(fields: Fields) -> Options:
    operation = fields.pop("operation")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise ApiError(422, f"'operation' must be one of {', '.join(OPERATIONS)}",
                       {"field": "operation", "operations": list(OPERATIONS)})
    query = {k: v for k, v in request.args.to_dict().items() if k != "operation"}
    return read_options(OPERATIONS[operation], fields.json, fields.text, query).resolve(_state())


def _job_request_schema() -> dict:
    form = {**UPLOAD, "required": ["file", "operation"], "properties": {
        **UPLOAD["properties"], "operation": {"type": "string", "enum": list(OPERATIONS)}}}
    variants = []
    for name, cls in OPERATIONS.items():
        form["properties"].update(options_schema(cls, "form"))
        variants.append({"type": "object", "required": ["operation", "documents"], "additionalProperties": False,
                         "properties": {"operation": {"const": name}, "documents": JOB_DOCUMENTS,
                                        **options_schema(cls)}})
    return {"multipart/form-data": form, "application/json": {"oneOf": variants}}


@jobs_bp.post("/jobs")
@describe(request=_job_request_schema(), responses={202: JOB})
def submit_job():
    """Start a batch job: a file upload (multipart ``file`` + ``operation`` and its options) or JSON ``{"operation",
    "documents": [...], ...options}``; answered ``202`` once the input is safely stored (encrypted)."""
    if request.mimetype == "multipart/form-data":
        upload, suffix = uploaded_file()
        options = _job_options(form_fields())  # checked before anything is written
        name, stored_suffix, fill = upload_job_input(upload, suffix)
    elif request.mimetype in JSON_TYPES:
        body = dict(read_json())
        items = body.pop("documents", None)
        options = _job_options(Fields(body))
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise ApiError(422, "'documents' must be a non-empty list of objects", {"field": "documents"})
        name, stored_suffix = "documents", ".jsonl"

        def fill(sink):
            for item in items:
                sink.write(orjson.dumps(item) + b"\n")
    else:
        raise ApiError(415, f"unsupported media type {request.mimetype or 'none'!r}",
                       {"supported": ["multipart/form-data", "application/json"]})
    status = store_job(options, stored_suffix, name, fill)
    return jsonify(status), 202, {"Location": f"/v1/jobs/{status['id']}"}


def store_job(options: Options, suffix: str, name: str, fill) -> dict:
    """Store a new job of the request's key (the API's and the pages' one way): its status, or an ApiError for a
    key over its quota or a disk that cannot take the input."""
    try:
        status = _state().jobs.submit(g.get("key_id"), options, suffix, name, fill)
    except QuotaExceeded as error:
        raise ApiError(429, str(error), {"retry_after_seconds": 30}) from None
    except OSError as error:  # a full disk: nothing was kept; the client may retry
        raise ApiError(503, f"the job could not be stored ({error.strerror or type(error).__name__})",
                       {"retry_after_seconds": 30}) from None
    count_work(status["progress"]["total"], 0)
    return status


def _job_or_404(job_id: str) -> dict:
    status = _state().jobs.status(job_id, g.get("key_id"))
    if status is None:
        raise ApiError(404, f"no job {job_id!r}")
    return status


def _job_file(job_id: str, kind: str):
    """A job's results or errors as a streamed JSON-lines answer (decrypted as it is sent), with headers that
    say whether the file is whole: ``Clinnlp-Job-Status`` and ``Clinnlp-Results-Complete``."""
    status = _job_or_404(job_id)
    if not status["data"]["available"]:
        raise ApiError(410, f"job {job_id!r} finished and its files were deleted on {status['data']['deleted']}",
                       {"deleted": status["data"]["deleted"]})
    chunks, complete = _state().jobs.read(job_id, kind)
    return current_app.response_class(stream_with_context(chunks), mimetype="application/x-ndjson",
                                      headers={"Clinnlp-Job-Status": status["status"],
                                               "Clinnlp-Results-Complete": "true" if complete else "false"})


@jobs_bp.get("/jobs/<job_id>")
@describe(responses={200: JOB})
def job_status(job_id: str):
    """A job's status, progress counts, timings, and whether its files are still kept."""
    return jsonify(_job_or_404(job_id))


@jobs_bp.get("/jobs/<job_id>/results")
@describe(responses={200: {"content": JSON_LINES}})
def job_results(job_id: str):
    """A job's results as JSON lines: whole once it completes; while it runs, or if it failed or was cancelled,
    what was written so far (``Clinnlp-Results-Complete: false``). 410 once its files are deleted."""
    return _job_file(job_id, RESULTS)


@jobs_bp.get("/jobs/<job_id>/errors")
@describe(responses={200: {"content": JSON_LINES}})
def job_errors(job_id: str):
    """The manifest of records that failed: one ``{"id", "source", "reason"}`` per line."""
    return _job_file(job_id, ERRORS)


@jobs_bp.delete("/jobs/<job_id>")
@describe(responses={200: JOB})
def delete_job(job_id: str):
    """Delete a job's input, results and errors (cancelling it first if it is queued or running: a running job's
    files go when its current batch ends). The job's record stays, with its status and counts."""
    status = _state().jobs.cancel(job_id, g.get("key_id"), delete=True)
    if status is None:
        raise ApiError(404, f"no job {job_id!r}")
    return jsonify(status)


@admin_bp.post("/admin/purge")
@describe(responses={200: {"type": "object", "properties": {"purged": {"type": "integer"}}}})
def purge_jobs():
    """Delete now the files of every job finished longer ago than the retention period (needs the admin scope)."""
    return jsonify({"purged": _state().jobs.purge()})


@admin_bp.get("/admin/audit")
@describe(responses={200: {"type": "object"}})
def verify_audit_chain():
    """Check the audit trail's hash chain (needs the admin scope)."""
    from service.observability import verify_audit

    return jsonify(verify_audit(_state().settings.audit_path))
