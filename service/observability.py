"""Request ids, the audit log (JSON lines) and Prometheus metrics. None of them ever holds document text,
summaries or labels tied to a text: only counts, sizes, ids, statuses and timings."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"


class AuditLog:
    """Appends one JSON object per request to a file; thread-safe."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("clinnlp_requests", "HTTP requests", ["endpoint", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("clinnlp_request_seconds", "Request latency", ["endpoint"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.documents = Counter("clinnlp_documents", "Documents processed", ["endpoint"], registry=self.registry)
        self.characters = Counter("clinnlp_characters", "Characters processed", ["endpoint"], registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def count_work(documents: int, characters: int) -> None:
    """Called by an endpoint once it has accepted its documents."""
    g.documents, g.characters = documents, characters


def init_app(app: Flask, audit: AuditLog, metrics: Metrics) -> None:
    @app.before_request
    def start():
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
        g.started = time.perf_counter()
        g.documents = g.characters = 0
        g.key_id = None

    @app.after_request
    def finish(response):
        seconds = time.perf_counter() - getattr(g, "started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(seconds)
        if g.get("documents"):
            metrics.documents.labels(endpoint).inc(g.documents)
            metrics.characters.labels(endpoint).inc(g.characters)
        if endpoint not in ("/healthz", "/readyz", "/metrics"):
            audit.write({"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                         "request_id": g.get("request_id"), "key_id": g.get("key_id"), "method": request.method,
                         "endpoint": endpoint, "documents": g.get("documents", 0),
                         "characters": g.get("characters", 0), "status": response.status_code,
                         "latency_ms": round(seconds * 1000, 1)})
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response
