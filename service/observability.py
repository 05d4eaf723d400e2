"""Request ids, the audit trail (JSON lines, hash-chained) and Prometheus metrics. None of them ever holds
document text, summaries or labels tied to a text: only counts, sizes, ids, statuses and timings.

The audit trail answers a privacy office's questions: who (key id, or the identity provider's subject) did what
(method, route, the job it concerned) from where (client address), when, with how many documents, and what the
answer was. Each entry carries the hash of the one before, so a changed, removed or inserted entry breaks the
chain (``clinnlp audit verify``). The log rotates by size and rotated files are deleted after a retention period;
the chain continues across files. Several processes append under a file lock. Failed authentication is logged
at most once a minute per client address (with a count of those left out), so a flood of bad keys cannot fill
the disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"
GENESIS = "0" * 64
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNAUTHORIZED_LOG_SECONDS = 60
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _digest(previous: str, record: dict) -> str:
    body = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{previous}\n{body}".encode()).hexdigest()


def _last_hash(path: Path) -> str | None:
    """The hash of the last entry of ``path`` (None for a missing or empty file)."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        block = b""
        position = size
        while b"\n" not in block.rstrip(b"\n") and position > 0:
            step = min(4096, position)
            position -= step
            handle.seek(position)
            block = handle.read(step) + block
        line = block.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return json.loads(line)["hash"]


class AuditLog:
    """Appends hash-chained JSON entries to ``path``; safe across threads and processes.

    Args:
        max_bytes: Rotate the file when it reaches this size (``audit.<UTC time>.jsonl``).
        retention_seconds: Delete rotated files older than this (0: keep them).
    """

    def __init__(self, path: Path, max_bytes: int = 64 * 1024 * 1024, retention_seconds: float = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_path = self.path.with_suffix(".lock")
        self.max_bytes = max_bytes
        self.retention_seconds = retention_seconds
        self.lock = threading.Lock()

    def write(self, record: dict) -> None:
        with self.lock, self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # other processes append to the same chain
            try:
                previous = _last_hash(self.path)
                if previous is not None and self.path.stat().st_size >= self.max_bytes:
                    self._rotate()
                previous = previous or self._chain_start()
                entry = {**record, "prev": previous}
                entry["hash"] = _digest(previous, entry)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def rotated(self) -> list[Path]:
        """Rotated files, oldest first."""
        return sorted(self.path.parent.glob(f"{self.path.stem}.*{self.path.suffix}"))

    def _chain_start(self) -> str:
        older = self.rotated()
        return (_last_hash(older[-1]) if older else None) or GENESIS

    def _rotate(self) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        os.replace(self.path, self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}"))
        if self.retention_seconds:
            cutoff = time.time() - self.retention_seconds
            for old in self.rotated():
                if old.stat().st_mtime < cutoff:
                    old.unlink()


def verify_audit(path: Path) -> dict:
    """Check the chain of the audit log at ``path`` and its rotated files.

    Returns:
        ``{"entries", "files", "ok", "problem", "starts_after_deleted_files"}``; ``problem`` names the file and
        line of the first broken link.
    """
    log = AuditLog(path)
    files = [*log.rotated(), log.path] if log.path.exists() else log.rotated()
    entries, previous, first = 0, None, True
    for file in files:
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                where = f"{file.name}:{number}"
                try:
                    entry = json.loads(line)
                    claimed = entry.pop("hash")
                except (json.JSONDecodeError, KeyError, AttributeError):
                    return {"entries": entries, "files": len(files), "ok": False, "problem": f"{where}: not an entry"}
                if previous is not None and entry.get("prev") != previous:
                    return {"entries": entries, "files": len(files), "ok": False,
                            "problem": f"{where}: does not follow the entry before it (one was removed or inserted)"}
                if _digest(entry.get("prev", ""), entry) != claimed:
                    return {"entries": entries, "files": len(files), "ok": False,
                            "problem": f"{where}: its contents do not match its hash (it was changed)"}
                if first:
                    starts_after = entry.get("prev") != GENESIS
                    first = False
                previous = claimed
                entries += 1
    return {"entries": entries, "files": len(files), "ok": True, "problem": None,
            "starts_after_deleted_files": bool(entries) and starts_after}


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


class _UnauthorizedThrottle:
    """At most one audit entry a minute per client address for failed authentication."""

    def __init__(self):
        self.last: dict[str, tuple[float, int]] = {}
        self.lock = threading.Lock()

    def admit(self, address: str) -> int | None:
        """None to leave this one out; else how many were left out before it."""
        now = time.monotonic()
        with self.lock:
            if len(self.last) > 10_000:  # bounded memory under a flood from many addresses
                self.last = {a: v for a, v in self.last.items() if now - v[0] < UNAUTHORIZED_LOG_SECONDS}
            then, suppressed = self.last.get(address, (-UNAUTHORIZED_LOG_SECONDS, 0))
            if now - then < UNAUTHORIZED_LOG_SECONDS:
                self.last[address] = (then, suppressed + 1)
                return None
            self.last[address] = (now, 0)
            return suppressed


def init_app(app: Flask, audit: AuditLog, metrics: Metrics) -> None:
    throttle = _UnauthorizedThrottle()

    @app.before_request
    def start():
        given = request.headers.get("X-Request-Id", "")
        # Only an id-like value is kept: the header is the client's, and the audit trail never holds free text.
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.started = time.perf_counter()
        g.documents = g.characters = 0
        g.key_id = None

    @app.after_request
    def finish(response):
        seconds = time.perf_counter() - getattr(g, "started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        method = request.method if request.method in METHODS else "other"  # bounded label values
        metrics.requests.labels(endpoint, method, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(seconds)
        if g.get("documents"):
            metrics.documents.labels(endpoint).inc(g.documents)
            metrics.characters.labels(endpoint).inc(g.characters)
        if endpoint not in ("/healthz", "/readyz", "/metrics") and not endpoint.startswith("/static"):
            address = request.remote_addr or ""
            record = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                      "request_id": g.get("request_id"), "key_id": g.get("key_id"), "subject": g.get("subject"),
                      "address": address, "method": method, "endpoint": endpoint,
                      "resource": (request.view_args or {}).get("job_id"), "documents": g.get("documents", 0),
                      "characters": g.get("characters", 0), "status": response.status_code,
                      "latency_ms": round(seconds * 1000, 1)}
            if response.status_code == 401:
                suppressed = throttle.admit(address)
                if suppressed is not None:
                    audit.write({**record, "earlier_unauthorized_left_out": suppressed})
            else:
                audit.write(record)
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response
