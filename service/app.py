"""The Flask application factory: ``create_app(config)``.

Models load once, here, into the app; requests only use them. Auth (``Authorization: Bearer <key>``)
guards every ``/v1`` route unless the settings turn it off for local development.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, g, jsonify, request

from service.api import jobs_bp, models_bp, operations_bp
from service.config import Settings
from service.errors import ApiError, register_error_handlers
from service.inputs import sweep_uploads
from service.jobs import JobManager
from service.keys import KeyStore
from service.observability import AuditLog, Metrics, init_app
from service.openapi import build_spec, describe, docs_page
from service.registry import Registry

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    settings: Settings
    registry: Registry
    keys: KeyStore
    metrics: Metrics
    audit: AuditLog
    jobs: JobManager


def create_app(config: dict | None = None, registry: Registry | None = None) -> Flask:
    """Build the app.

    Args:
        config: Overrides for :class:`service.config.Settings` (else environment variables and defaults).
        registry: Already-loaded models (tests pass small ones); by default loaded from the settings.
    """
    settings = Settings.load(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False
    if not settings.auth:
        log.warning("AUTHENTICATION IS OFF: anyone who can reach this port can send and read patient text. "
                    "Use this only on a development machine.")
    swept = sweep_uploads(settings.state_dir)
    if swept:
        log.warning("removed %d upload(s) left by a process that stopped mid-request", swept)
    registry = registry or Registry.load(settings.classifiers, settings.summarizers)
    state = ServiceState(settings, registry, KeyStore(settings.database_url), Metrics(), AuditLog(settings.audit_path),
                         JobManager(settings.database_url, Path(settings.state_dir) / "jobs", registry,
                                    threads=settings.job_threads, storage=settings.job_storage,
                                    data_key=settings.data_key))
    app.extensions["clinnlp"] = state
    register_error_handlers(app)
    init_app(app, state.audit, state.metrics)

    @app.before_request
    def authenticate():
        if not settings.auth or not request.path.startswith("/v1/"):
            return
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
        key_id = state.keys.check(header[len("Bearer "):].strip())
        if key_id is None:
            raise ApiError(401, "invalid or revoked API key")
        g.key_id = key_id

    in_flight = threading.BoundedSemaphore(settings.max_in_flight)
    heavy = {"/v1/classify", "/v1/summarize"}

    @app.before_request
    def limit_load():
        if request.path in heavy and request.method == "POST":
            if not in_flight.acquire(blocking=False):
                raise ApiError(503, f"busy: {settings.max_in_flight} requests in progress; retry shortly or "
                                    "send the work as a job", {"retry_after_seconds": 1})
            g.holds_slot = True

    @app.teardown_request
    def release_slot(_error=None):
        if g.pop("holds_slot", False):
            in_flight.release()

    @app.after_request
    def retry_after(response):
        if response.status_code == 503:
            response.headers["Retry-After"] = "1"
        return response

    @app.get("/healthz")
    @describe(public=True, responses={200: {"type": "object", "properties": {"status": {"type": "string"}}}})
    def healthz():
        """The process is alive."""
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    @describe(public=True, responses={200: {"type": "object", "properties": {"status": {"type": "string"}}}})
    def readyz():
        """The models are loaded (503 until they are)."""
        ready = bool(state.registry.classifiers or state.registry.summarizers)
        return jsonify({"status": "ready" if ready else "not ready",
                        "classifiers": sorted(state.registry.classifiers),
                        "summarizers": sorted(state.registry.summarizers)}), (200 if ready else 503)

    @app.get("/metrics")
    @describe(public=True, responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics():
        """Prometheus metrics: requests, latency, documents and characters processed (never text)."""
        return Response(state.metrics.render(), mimetype="text/plain")

    @app.get("/openapi.json")
    @describe(public=True, responses={200: {"type": "object"}})
    def openapi():
        """This API's OpenAPI 3.1 document, generated from the routes."""
        return jsonify(build_spec(app))

    @app.get("/docs")
    @describe(public=True, responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}})
    def docs():
        """A page listing every operation."""
        return Response(docs_page(build_spec(app)), mimetype="text/html")

    for blueprint in (operations_bp, models_bp, jobs_bp):
        app.register_blueprint(blueprint)
    return app
