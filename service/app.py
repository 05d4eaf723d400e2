"""The Flask application factory: ``create_app(config)``.

Models load once, here, into the app; requests only use them. Auth (``Authorization: Bearer <key>``, or an
OpenID Connect token when an identity provider is configured) guards every ``/v1`` route unless the settings turn
it off for local development; each key's scopes decide which routes it may use, and a per-key rate limit and a
per-process limit on requests in progress protect the service. Everything the service writes (database, job
files, audit log, key files) is readable by its own user only.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, g, jsonify, request

from nlp.memory import mimalloc_loaded, start_trimming
from service.api import admin_bp, jobs_bp, models_bp, operations_bp
from service.batching import Batchers
from service.config import Settings
from service.errors import ApiError, register_error_handlers
from service.inputs import sweep_uploads
from service.jobs import JobManager
from service.keys import KeyStore
from service.observability import AuditLog, Metrics, init_app
from service.openapi import build_spec, describe, docs_page, docs_policy
from service.options import OPERATIONS
from service.registry import Registry
from service.security import API_POLICY, RateLimiter, TokenVerifier, required_scope, retry_after, secure_headers
from service.storage import job_files
from service.web import HEAVY_PAGES
from service.web import init_app as init_pages

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    settings: Settings
    registry: Registry
    keys: KeyStore
    metrics: Metrics
    audit: AuditLog
    jobs: JobManager
    batchers: Batchers
    tokens: TokenVerifier | None = None


def private_state(state_dir: str) -> None:
    """Make the state folder and everything in it readable by this user only, now and for files made later."""
    os.umask(0o077)
    folder = Path(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def set_inference_threads(configured: int) -> None:
    """Threads of the models' encoders (torch and ONNX Runtime) in this worker: as configured, else the CPUs shared
    out among the workers, so that N workers never run N x CPUs threads."""
    import sys

    from nlp import parallel

    workers = int(os.environ.get("CLINNLP_WORKERS", "1") or 1)
    threads = configured or max(1, parallel.available_cpus() // max(1, workers))
    parallel.set_inference_threads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def create_app(config: dict | None = None, registry: Registry | None = None) -> Flask:
    """Build the app.

    Args:
        config: Overrides for :class:`service.config.Settings` (else environment variables and defaults).
        registry: Already-loaded models (tests pass small ones); by default loaded from the settings.
    """
    settings = Settings.load(config)
    private_state(settings.state_dir)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False
    if not settings.auth:
        log.warning("AUTHENTICATION IS OFF: anyone who can reach this port can send and read patient text. "
                    "Use this only on a development machine.")
    swept = sweep_uploads(settings.state_dir)
    if swept:
        log.warning("removed %d upload(s) left by a process that stopped mid-request", swept)
    set_inference_threads(settings.torch_threads)  # before any model makes its thread pool
    registry = registry or Registry.load(settings.classifiers, settings.summarizers, settings.analyzer)
    set_inference_threads(settings.torch_threads)  # again: loading may have imported torch
    if not mimalloc_loaded():  # mimalloc returns freed memory by itself
        start_trimming(settings.memory_trim_seconds)
    batchers = Batchers(settings.batching, settings.batch_wait_ms / 1000, settings.batch_max_documents)
    files = job_files(settings)
    jobs = JobManager(settings.database_url, files, registry, threads=settings.job_threads,
                      max_document_chars=settings.max_document_chars,
                      max_unfinished_per_key=settings.max_unfinished_jobs,
                      retention_seconds=settings.job_retention_seconds, batchers=batchers)
    tokens = (TokenVerifier(settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks)
              if settings.oidc_issuer else None)
    audit = AuditLog(settings.audit_path, settings.audit_max_bytes, settings.audit_retention_seconds)
    state = ServiceState(settings, registry, KeyStore(settings.database_url), Metrics(), audit, jobs, batchers,
                         tokens)
    app.extensions["clinnlp"] = state
    register_error_handlers(app)
    init_app(app, state.audit, state.metrics)
    limiter = RateLimiter(settings.rate_limit)

    @app.before_request
    def authenticate():
        if not settings.auth or not request.path.startswith("/v1/"):
            return
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
        credential = header[len("Bearer "):].strip()
        principal = (state.tokens.verify(credential) if state.tokens and credential.count(".") == 2
                     else state.keys.check(credential))
        if principal is None:
            raise ApiError(401, "invalid, revoked or expired API key or token")
        g.key_id, g.subject = principal.id, principal.subject
        scope = required_scope(request.path, request.method, OPERATIONS)
        if scope is not None and not principal.allows(scope):
            raise ApiError(403, f"this key may not use {request.path} (it needs the {scope!r} scope)",
                           {"scope": scope})
        wait = limiter.allow(principal.id)
        if wait:
            raise ApiError(429, f"too many requests for this key: at most {settings.rate_limit} a minute",
                           {"retry_after_seconds": float(retry_after(wait))})

    in_flight = threading.BoundedSemaphore(settings.max_in_flight)
    heavy = {f"/v1/{name}" for name in OPERATIONS} | {"/v1/jobs"} | HEAVY_PAGES

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
    def headers(response):
        if response.status_code in (429, 503):
            wait = (response.get_json(silent=True) or {}).get("error", {}).get("details", {}).get("retry_after_seconds")
            response.headers["Retry-After"] = retry_after(wait or 1)
        secure_headers(response, docs_policy() if request.path == "/docs" else API_POLICY)
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

    for blueprint in (operations_bp, models_bp, jobs_bp, admin_bp):
        app.register_blueprint(blueprint)
    init_pages(app, limiter)  # the pages for people: sign in, analyze, jobs, models, reports
    return app
