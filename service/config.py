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
        classifiers: Model names (or directories) to load; empty: every model in the models folder.
        default_classifier: The model used when a request names none (default: the first loaded, by name).
        summarizers: Summarization methods to offer.
        max_document_chars: Longest document accepted (long documents are windowed, not rejected).
        max_documents: Most documents in one synchronous request.
        max_request_bytes: Largest request body.
        job_threads: Background threads per process running batch jobs.
        job_storage: Where job inputs, results and error manifests live: ``folder`` (``state_dir/jobs``; for
            several replicas, a ReadWriteMany volume mounted there) or ``database`` (the service database,
            so replicas share nothing else).
        data_key: 32 random bytes in URL-safe base64 that encrypt job files kept in the database (AES-GCM);
            required with ``job_storage=database``. Keep it in a secret store: without it, the stored jobs
            cannot be read.
        max_in_flight: Synchronous classify/summarize requests a process works on at once; more get 503
            with Retry-After (send big work as a job).
    """

    state_dir: str = "var"
    database: str = ""
    auth: bool = True
    classifiers: tuple[str, ...] = ()
    default_classifier: str = ""
    summarizers: tuple[str, ...] = ("extractive", "lead", "textrank", "lexrank")
    max_document_chars: int = 1_000_000
    max_documents: int = 64
    max_request_bytes: int = 32 * 1024 * 1024
    job_threads: int = 1
    job_storage: str = "folder"
    data_key: str = ""
    max_in_flight: int = 8

    def __post_init__(self):
        # Resolved once, at start: a relative folder must not mean one thing here and another wherever a
        # library resolves paths (Flask's send_file resolves them against the package, not the working folder).
        self.state_dir = str(Path(self.state_dir).expanduser().resolve())

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
