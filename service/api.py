"""The ``/v1`` resources: classify, summarize, models, jobs. One blueprint each."""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
from flask import Blueprint, current_app, g, jsonify, request, send_file

from service.errors import ApiError
from service.inputs import JSON_TYPES, flag, positive_int, read_documents, read_json, save_upload
from service.observability import count_work

classify_bp = Blueprint("classify", __name__, url_prefix="/v1")
summarize_bp = Blueprint("summarize", __name__, url_prefix="/v1")
models_bp = Blueprint("models", __name__, url_prefix="/v1")
jobs_bp = Blueprint("jobs", __name__, url_prefix="/v1")


def _state():
    return current_app.extensions["clinnlp"]


def classify_options(options: dict) -> dict:
    """Validated classification options: ``model`` (required, loaded) and ``explain``."""
    classifiers = _state().registry.classifiers
    name = options.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(422, "'model' is required", {"field": "model", "models": sorted(classifiers)})
    if name not in classifiers:
        raise ApiError(404, f"no model {name!r}", {"models": sorted(classifiers)})
    return {"model": name, "explain": flag(options, "explain", True)}


def summarize_options(options: dict) -> dict:
    """Validated summarization options: ``method``, ``max_words``, ``max_sentences``, ``sections``."""
    summarizers = _state().registry.summarizers
    method = options.get("method", "extractive")
    if method not in summarizers:
        raise ApiError(422, f"unknown method {method!r}", {"field": "method", "methods": sorted(summarizers)})
    sections = options.get("sections")
    if isinstance(sections, str):
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
def classify():
    state = _state()
    documents, options = read_documents(state.settings)
    chosen = classify_options(options)
    count_work(len(documents), sum(len(d.text) for d in documents))
    model = state.registry.classifiers[chosen["model"]]
    results = state.registry.classify(chosen["model"], documents, chosen["explain"])
    return jsonify({"model": {"name": model.name, "version": model.version}, "results": results})


@summarize_bp.post("/summarize")
def summarize():
    state = _state()
    documents, options = read_documents(state.settings)
    chosen = summarize_options(options)
    count_work(len(documents), sum(len(d.text) for d in documents))
    with state.registry.lock:
        summaries = state.registry.summarizers[chosen["method"]].summarize(
            [d.text for d in documents], max_words=chosen["max_words"], max_sentences=chosen["max_sentences"],
            sections=chosen["sections"])
    return jsonify({"method": chosen["method"],
                    "results": [{"id": d.id, **s.as_dict()} for d, s in zip(documents, summaries)]})


@models_bp.get("/models")
def list_models():
    registry = _state().registry
    return jsonify({"classifiers": [registry.describe(m) for m in registry.classifiers.values()],
                    "summarizers": sorted(registry.summarizers)})


@models_bp.get("/models/<name>")
def get_model(name: str):
    registry = _state().registry
    if name not in registry.classifiers:
        raise ApiError(404, f"no model {name!r}", {"models": sorted(registry.classifiers)})
    return jsonify(registry.describe(registry.classifiers[name]))


@jobs_bp.post("/jobs")
def submit_job():
    """A file upload (multipart ``file`` + ``operation`` and its options) or JSON ``{"operation",
    "documents": [...], ...options}``; answered ``202`` once the input is safely on disk."""
    state = _state()
    uploads = Path(state.settings.state_dir) / "uploads"
    if request.mimetype == "multipart/form-data":
        path, suffix, options = save_upload(uploads)
    elif request.mimetype in JSON_TYPES:
        options = read_json()
        items = options.pop("documents", None)
        if not isinstance(items, list) or not items:
            raise ApiError(422, "'documents' must be a non-empty list", {"field": "documents"})
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
        if operation == "classify":
            chosen = classify_options(options)
        elif operation == "summarize":
            chosen = summarize_options(options)
        else:
            raise ApiError(422, "'operation' must be 'classify' or 'summarize'", {"field": "operation"})
        status = state.jobs.submit(g.get("key_id"), operation, chosen, path, suffix)
    finally:
        path.unlink(missing_ok=True)
    count_work(status["progress"]["total"], 0)
    return jsonify(status), 202, {"Location": f"/v1/jobs/{status['id']}"}


def _job_or_404(job_id: str) -> dict:
    status = _state().jobs.status(job_id, g.get("key_id"))
    if status is None:
        raise ApiError(404, f"no job {job_id!r}")
    return status


@jobs_bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    return jsonify(_job_or_404(job_id))


@jobs_bp.get("/jobs/<job_id>/results")
def job_results(job_id: str):
    """The results as JSON lines (what is written so far while the job runs)."""
    _job_or_404(job_id)
    path = _state().jobs.results_path(job_id)
    if not path.exists():
        return current_app.response_class(b"", mimetype="application/x-ndjson")
    return send_file(path, mimetype="application/x-ndjson", max_age=0)


@jobs_bp.get("/jobs/<job_id>/errors")
def job_errors(job_id: str):
    """The manifest of records that failed: one ``{"id", "source", "reason"}`` per line."""
    _job_or_404(job_id)
    path = _state().jobs.errors_path(job_id)
    if not path.exists():
        return current_app.response_class(b"", mimetype="application/x-ndjson")
    return send_file(path, mimetype="application/x-ndjson", max_age=0)


@jobs_bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str):
    status = _state().jobs.cancel(job_id, g.get("key_id"))
    if status is None:
        raise ApiError(404, f"no job {job_id!r}")
    return jsonify(status)
