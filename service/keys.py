"""API keys: stored only as SHA-256 hashes in the service database (``service.database``; SQLite by default).

A key is ``cnlp_<id>_<secret>``: the id finds the row, the hash of the whole key must match. Keys are
256-bit random, so a plain SHA-256 (not a slow password hash) is the right tool.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.database import Base, open_engine

PREFIX = "cnlp"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and check API keys."""

    def __init__(self, url: str):
        self.engine = open_engine(url)

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
