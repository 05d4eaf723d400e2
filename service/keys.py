"""API keys: stored only as SHA-256 hashes in the service database (SQLAlchemy; SQLite by default).

A key is ``cnlp_<id>_<secret>``: the id finds the row, the hash of the whole key must match. Keys are
256-bit random, so a plain SHA-256 (not a slow password hash) is the right tool. A key has scopes (what it may
do), may expire, records when it was last used (to the minute), and can be rotated without downtime: the new key
works at once and the old one keeps working until a grace period ends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Boolean, DateTime, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.database import Base, open_engine

PREFIX = "cnlp"
ALL = "*"  # every operation and jobs; not admin
JOBS, ADMIN = "jobs", "admin"
TOUCH_SECONDS = 60  # last-used times are written at most once a minute per key and process


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    scopes: Mapped[str] = mapped_column(String(400), default=ALL)
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: an API key's id (or an identity provider's subject) and what it may do."""

    id: str
    scopes: frozenset[str]
    subject: str | None = None  # an OpenID Connect subject, for the audit trail

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or (ALL in self.scopes and scope != ADMIN)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _principal(row: ApiKey) -> Principal | None:
    if row.revoked or (row.expires is not None and _aware(row.expires) <= _now()):
        return None
    return Principal(row.id, frozenset((row.scopes or ALL).split(",")))


def parse_scopes(value: str | list[str] | None, known: set[str]) -> str:
    """A stored scopes value from a list or comma-separated text; an unknown scope is an error."""
    if not value:
        return ALL
    names = [part.strip() for part in (value.split(",") if isinstance(value, str) else value) if part.strip()]
    unknown = sorted(set(names) - known - {ALL})
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(known | {ALL}))}")
    return ",".join(dict.fromkeys(names))


class KeyStore:
    """Create, list, rotate, revoke and check API keys."""

    def __init__(self, url: str):
        self.engine = open_engine(url)
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self, name: str, scopes: str = ALL, expires_in: float | None = None) -> tuple[str, str]:
        """A new key: returns ``(key id, key)``; the key itself is shown once and never stored.

        Args:
            scopes: Comma-separated scopes (see :func:`parse_scopes`); ``*`` is every operation and jobs.
            expires_in: Seconds until it stops working (None: never).
        """
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        expires = _now() + timedelta(seconds=expires_in) if expires_in else None
        with Session(self.engine) as session:
            session.add(ApiKey(id=key_id, name=name, key_hash=_hash(key), created=_now(), scopes=scopes,
                               expires=expires))
            session.commit()
        return key_id, key

    def list(self) -> list[dict]:
        with Session(self.engine) as session:
            return [{"id": k.id, "name": k.name, "created": _aware(k.created).isoformat(), "revoked": k.revoked,
                     "scopes": k.scopes, "expires": _aware(k.expires).isoformat() if k.expires else None,
                     "last_used": _aware(k.last_used).isoformat() if k.last_used else None,
                     "active": not k.revoked and (k.expires is None or _aware(k.expires) > _now())}
                    for k in session.scalars(select(ApiKey).order_by(ApiKey.created))]

    def revoke(self, key_id: str) -> bool:
        with Session(self.engine) as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                return False
            key.revoked = True
            session.commit()
            return True

    def rotate(self, key_id: str, grace_seconds: float) -> tuple[str, str]:
        """A new key with the old one's name and scopes; the old one stops working after ``grace_seconds``
        (clients switch over in that time: no downtime)."""
        with Session(self.engine) as session:
            old = session.get(ApiKey, key_id)
            if old is None or old.revoked:
                raise ValueError(f"no active key with id {key_id!r}")
            name, scopes = old.name, old.scopes
            ends = _now() + timedelta(seconds=grace_seconds)
            old.expires = min(_aware(old.expires), ends) if old.expires else ends
            session.commit()
        return self.create(name, scopes)

    def check(self, key: str) -> Principal | None:
        """Who the key belongs to if it is valid, not revoked and not expired, else ``None``."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        with Session(self.engine) as session:
            row = session.get(ApiKey, parts[1])
            if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
                return None
            principal = _principal(row)
        if principal is not None:
            self._touch(principal.id)
        return principal

    def active(self, key_id: str) -> Principal | None:
        """The principal of the key with this id while it is neither revoked nor expired (a page session holds
        the key's id, never the key, and asks this on every request)."""
        with Session(self.engine) as session:
            row = session.get(ApiKey, key_id)
            principal = _principal(row) if row is not None else None
        if principal is not None:
            self._touch(principal.id)
        return principal

    def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(key_id, -TOUCH_SECONDS) < TOUCH_SECONDS:
                return
            self._touched[key_id] = now
        with Session(self.engine) as session:
            session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used=_now()))
            session.commit()
