"""Service settings: defaults, overridden by ``CLINNLP_*`` environment variables or a dict."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass
class Settings:
    """What the service loads and allows.

    Attributes:
        state_dir: Where the database (by default), job files and the audit log live.
        database: Any SQLAlchemy URL for keys and jobs (e.g. ``postgresql+psycopg://user@host/clinnlp``);
            default: a SQLite file in ``state_dir``.
        auth: Require ``Authorization: Bearer <key>`` (turn off only for local development).
        classifiers: Model names (or directories) to load; empty: every model in the models folder that is served
            by default (a model trained `--not-served-by-default` is loaded only when named here).
        default_classifier: The model used when a request names none (default: the first loaded of
            mtsamples-ensemble, mtsamples-tfidf, mtsamples-transformer, else the first loaded by name).
        summarizers: Summarization methods to offer.
        analyzer: Offer clinical analysis (``/v1/analyze``, ``"operation": "analyze"``); loads medspaCy's
            ConText and the packaged lexicon at start.
        max_document_chars: Longest document accepted (long documents are windowed, not rejected).
        max_documents: Most documents in one synchronous request.
        max_request_bytes: Largest request body.
        job_threads: Background threads per process running batch jobs.
        job_storage: Where job files (input, results, errors; encrypted) live: ``folder`` (``state_dir/jobs``;
            for several replicas, one ReadWriteMany volume mounted there) or ``database`` (rows of the service
            database, so replicas share nothing else; needs ``data_key``, the same on every replica).
        max_in_flight: Synchronous requests (every operation, and job submissions) a process works on at once;
            more get 503 with Retry-After (send big work as a job).
        data_key: Keys for job files at rest (``CLINNLP_DATA_KEY``: base64 of 32 bytes, comma-separated while
            rotating, the current key first); empty: a key file made once in ``state_dir`` (mode 0600).
        job_retention: How long a finished job's files are kept (``7d``, ``12h``, ``30m``; ``0``: until deleted).
            The job's record (status, counts) stays.
        max_unfinished_jobs: Jobs one key may have queued or running at once (0: no limit); more get 429.
        rate_limit: Requests per minute one key may send to one process (0: no limit); more get 429 with
            Retry-After.
        audit_max_bytes: The audit log is rotated when it reaches this size.
        audit_retention: How long rotated audit logs are kept (``365d``; ``0``: forever).
        oidc_issuer: Accept OpenID Connect access tokens (JWT) from this issuer besides API keys (empty: keys only).
        oidc_audience: The audience those tokens must name (this service's client id).
        oidc_jwks: The issuer's signing keys: a JWKS URL or a local JWKS file.
        session_idle: A page session ends after this long without a request (``30m``).
        session_max: A page session ends this long after sign-in, whatever happens (``12h``).
        secure_cookies: Mark the pages' cookies ``Secure`` even when a request arrives over plain HTTP (behind a
            TLS-terminating proxy); over HTTPS they always are.
        reports_dir: A folder of ``clinnlp mine`` output folders whose reports the pages show (read-only);
            empty: none.
        evaluation_dir: Where ``clinnlp evaluate`` wrote its plots, shown on the model pages.
        batching: Run the documents of concurrent requests to a transformer model or a summarizer together
            (:mod:`service.batching`); off, each request runs alone (still on its model's thread).
        batch_wait_ms: How long a batch waits for more requests once one arrives (0: it takes what is queued).
        batch_max_documents: Most documents in one batch.
        torch_threads: Threads the encoders (torch, ONNX Runtime) use in each worker process; 0: the CPUs divided
            by the workers (``clinnlp serve`` passes the worker count), so workers never oversubscribe the cores.
        allocator: ``mimalloc``: ``clinnlp serve`` runs its processes on mimalloc (:mod:`nlp.memory`), which keeps
            their memory flat under steady load; ``system``: the C library's ``malloc``.
        memory_trim_seconds: Every this many seconds a process on glibc's ``malloc`` hands freed native memory
            back to the system (``malloc_trim``; :mod:`nlp.memory`), so steady load grows it less (0: never).
    """

    state_dir: str = "var"
    database: str = ""
    auth: bool = True
    classifiers: tuple[str, ...] = ()
    default_classifier: str = ""
    summarizers: tuple[str, ...] = ("extractive", "lead", "textrank", "lexrank")
    analyzer: bool = True
    max_document_chars: int = 1_000_000
    max_documents: int = 64
    max_request_bytes: int = 32 * 1024 * 1024
    job_threads: int = 1
    job_storage: str = "folder"
    max_in_flight: int = 8
    data_key: str = ""
    job_retention: str = "7d"
    max_unfinished_jobs: int = 20
    rate_limit: int = 1200
    audit_max_bytes: int = 64 * 1024 * 1024
    audit_retention: str = "2190d"
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks: str = ""
    session_idle: str = "30m"
    session_max: str = "12h"
    secure_cookies: bool = False
    reports_dir: str = ""
    evaluation_dir: str = "out/evaluate"
    batching: bool = True
    batch_wait_ms: int = 0
    batch_max_documents: int = 64
    torch_threads: int = 0
    allocator: str = "mimalloc"
    memory_trim_seconds: int = 15

    def __post_init__(self):
        # Resolved once, at start: a relative folder must not mean one thing here and another wherever a
        # library resolves paths (Flask's send_file resolves them against the package, not the working folder).
        self.state_dir = str(Path(self.state_dir).expanduser().resolve())
        for name in ("reports_dir", "evaluation_dir"):
            if getattr(self, name):
                setattr(self, name, str(Path(getattr(self, name)).expanduser().resolve()))
        for name in ("job_retention", "audit_retention", "session_idle", "session_max"):
            parse_duration(getattr(self, name), f"CLINNLP_{name.upper()}")  # refuse to start on a bad value
        if self.allocator not in ("mimalloc", "system"):
            raise ValueError(f"CLINNLP_ALLOCATOR must be 'mimalloc' or 'system', not {self.allocator!r}")
        if self.oidc_issuer and not (self.oidc_audience and self.oidc_jwks):
            raise ValueError("CLINNLP_OIDC_ISSUER needs CLINNLP_OIDC_AUDIENCE and CLINNLP_OIDC_JWKS as well")

    @classmethod
    def load(cls, overrides: dict | None = None) -> "Settings":
        """Defaults, then ``CLINNLP_<NAME>`` environment variables, then ``overrides``.

        Raises:
            ValueError: An environment variable that cannot be read as its setting's type (for example a
                boolean that is not one of 1/0, true/false, yes/no, on/off): the service refuses to start
                rather than guess, because a typo must never turn authentication off.
        """
        values = {}
        for field in fields(cls):
            variable = f"CLINNLP_{field.name.upper()}"
            raw = os.environ.get(variable)
            if raw is not None:
                try:
                    values[field.name] = _parse(raw, field.default)
                except ValueError as error:
                    raise ValueError(f"{variable}: {error}") from None
        values.update(overrides or {})
        return cls(**values)

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{Path(self.state_dir) / 'service.db'}"

    @property
    def audit_path(self) -> Path:
        return Path(self.state_dir) / "audit.jsonl"

    @property
    def job_retention_seconds(self) -> float:
        return parse_duration(self.job_retention, "CLINNLP_JOB_RETENTION")

    @property
    def audit_retention_seconds(self) -> float:
        return parse_duration(self.audit_retention, "CLINNLP_AUDIT_RETENTION")


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | float, name: str = "duration") -> float:
    """Seconds in ``90d``, ``12h``, ``30m``, ``45s`` (a bare number is days; ``0`` is none)."""
    text = str(value).strip().lower()
    unit = text[-1:] if text[-1:] in UNITS else "d"
    number = text[:-1] if text[-1:] in UNITS else text
    try:
        seconds = float(number) * UNITS[unit]
    except ValueError:
        raise ValueError(f"{name}: expected a duration such as 90d, 12h or 30m, got {text[:20]!r}") from None
    if seconds < 0:
        raise ValueError(f"{name}: a duration cannot be negative")
    return seconds


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _parse(raw: str, default):
    if isinstance(default, bool):
        value = raw.strip().lower()
        if value not in TRUE + FALSE:
            raise ValueError(f"expected one of {', '.join(TRUE + FALSE)}, got {raw.strip()[:20]!r}")
        return value in TRUE
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw.strip()[:20]!r}") from None
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
