"""API keys: stored only as SHA-256 hashes in the service database (SQLAlchemy; SQLite by default).

A key is ``cnlp_<id>_<secret>``: the id finds the row, the hash of the whole key must match. Keys are
256-bit random, so a plain SHA-256 (not a slow password hash) is the right tool.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

PREFIX = "cnlp"


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


def engine_options(url: str) -> dict:
    # SQLite: wait for a busy database (several threads and workers write) instead of failing at once.
    return {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {"pool_pre_ping": True}


def create_tables(engine) -> None:
    """Create the tables that do not exist yet. Several gunicorn workers start at once and race to create
    them; the loser's ``CREATE TABLE`` fails because the table now exists, so it checks again."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for attempt in range(3):
        try:
            Base.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError):
            if attempt == 2:
                raise


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and check API keys."""

    def __init__(self, url: str):
        if url.startswith("sqlite:///"):
            from pathlib import Path

            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, **engine_options(url))
        create_tables(self.engine)

    def create(self, name: str) -> tuple[str, str]:
        """A new key: returns ``(key id, key)``; the key itself is shown once and never stored."""
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        with Session(self.engine) as session:
            session.add(ApiKey(id=key_id, name=name, key_hash=_hash(key), created=datetime.now(timezone.utc)))
            session.commit()
        return key_id, key

    def list(self) -> list[dict]:
        with Session(self.engine) as session:
            return [{"id": k.id, "name": k.name, "created": k.created.isoformat(), "revoked": k.revoked}
                    for k in session.scalars(select(ApiKey).order_by(ApiKey.created))]

    def revoke(self, key_id: str) -> bool:
        with Session(self.engine) as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                return False
            key.revoked = True
            session.commit()
            return True

    def check(self, key: str) -> str | None:
        """The key's id if it is valid and not revoked, else ``None``."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        with Session(self.engine) as session:
            row = session.get(ApiKey, parts[1])
            if row is None or row.revoked or not hmac.compare_digest(row.key_hash, _hash(key)):
                return None
            return row.id
