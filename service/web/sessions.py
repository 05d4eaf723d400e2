"""Server-side sessions for the pages: a random id in an ``HttpOnly``, ``SameSite=Strict`` cookie, the rest in
the service database, so every gunicorn worker (and every replica on the same database) sees the same sessions.

The API key a person signs in with is checked once and never kept: the session row holds the key's id, and every
request re-reads that key, so revoking or expiring a key ends its sessions at once. The database holds only the
SHA-256 of each session id (a copy of the table does not let anyone take a session over) and the session's CSRF
token, which every form and state-changing call must send back. A session ends after ``idle_seconds`` without a
request, after ``max_seconds`` in all, or when its user signs out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import DateTime, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.database import Base, open_engine

TOUCH_SECONDS = 60  # last_seen is written at most once a minute per session


class WebSession(Base):
    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class SignedIn:
    """A live session: whose key it is and the token its forms carry."""

    key_id: str | None
    csrf: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a CSRF token (a missing one never matches)."""
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


class SessionStore:
    """Create, look up and end page sessions in the service database."""

    def __init__(self, url: str, idle_seconds: float, max_seconds: float):
        self.engine = open_engine(url)
        self.idle = timedelta(seconds=idle_seconds)
        self.max = timedelta(seconds=max_seconds)

    def create(self, key_id: str | None) -> tuple[str, SignedIn]:
        """A new session for ``key_id`` (None when auth is off); returns the cookie value and the session.
        Always a new id: signing in never reuses one an attacker could have planted."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = _now()
        with Session(self.engine) as db:
            db.add(WebSession(id_hash=_hash(session_id), key_id=key_id, csrf=csrf, created=now, last_seen=now))
            db.commit()
        self.sweep()
        return session_id, SignedIn(key_id, csrf)

    def get(self, session_id: str | None) -> SignedIn | None:
        """The live session with this cookie value, or None (unknown, idle too long, or too old)."""
        if not session_id or len(session_id) > 128:
            return None
        now = _now()
        with Session(self.engine) as db:
            row = db.get(WebSession, _hash(session_id))
            if row is None:
                return None
            if now - _aware(row.last_seen) > self.idle or now - _aware(row.created) > self.max:
                db.delete(row)
                db.commit()
                return None
            if (now - _aware(row.last_seen)).total_seconds() > TOUCH_SECONDS:
                row.last_seen = now
                db.commit()
            return SignedIn(row.key_id, row.csrf)

    def end(self, session_id: str | None) -> None:
        if session_id:
            with Session(self.engine) as db:
                db.execute(delete(WebSession).where(WebSession.id_hash == _hash(session_id)))
                db.commit()

    def sweep(self) -> int:
        """Delete expired sessions (run at each sign-in, so the table stays small); returns how many."""
        now = _now()
        with Session(self.engine) as db:
            gone = db.execute(delete(WebSession).where(
                (WebSession.last_seen < now - self.idle) | (WebSession.created < now - self.max)))
            db.commit()
        return gone.rowcount or 0
