"""The ``/v1`` resources: classify, summarize, models. One blueprint each."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from service.errors import ApiError
from service.inputs import flag, positive_int, read_documents
from service.observability import count_work

classify_bp = Blueprint("classify", __name__, url_prefix="/v1")
summarize_bp = Blueprint("summarize", __name__, url_prefix="/v1")
models_bp = Blueprint("models", __name__, url_prefix="/v1")


def _state():
    return current_app.extensions["clinnlp"]


@classify_bp.post("/classify")
def classify():
    state = _state()
    documents, options = read_documents(state.settings)
    name = options.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(422, "'model' is required", {"field": "model", "models": sorted(state.registry.classifiers)})
    if name not in state.registry.classifiers:
        raise ApiError(404, f"no model {name!r}", {"models": sorted(state.registry.classifiers)})
    explain = flag(options, "explain", True)
    count_work(len(documents), sum(len(d.text) for d in documents))
    model = state.registry.classifiers[name]
    results = state.registry.classify(name, documents, explain)
    return jsonify({"model": {"name": model.name, "version": model.version}, "results": results})


@summarize_bp.post("/summarize")
def summarize():
    state = _state()
    documents, options = read_documents(state.settings)
    method = options.get("method", "extractive")
    if method not in state.registry.summarizers:
        raise ApiError(422, f"unknown method {method!r}", {"field": "method",
                                                            "methods": sorted(state.registry.summarizers)})
    max_words, max_sentences = positive_int(options, "max_words"), positive_int(options, "max_sentences")
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
    count_work(len(documents), sum(len(d.text) for d in documents))
    with state.registry.lock:
        summaries = state.registry.summarizers[method].summarize([d.text for d in documents], max_words=max_words,
                                                                 max_sentences=max_sentences, sections=sections)
    return jsonify({"method": method,
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
