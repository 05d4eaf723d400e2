"""The service database: SQLAlchemy engines, and the schema kept by Alembic migrations (``service/migrations``).

SQLite by default (one machine), PostgreSQL (``postgresql+psycopg://user@host/clinnlp``, the ``postgres``
extra) for several processes or replicas. Every process brings the database up to the newest revision when
it opens it, so an upgraded service opens an older database. Processes that start together (gunicorn
workers, replicas) take turns: a PostgreSQL advisory lock held by the migrating transaction, or a file lock
beside a SQLite file. A database made before migrations existed (tables but no ``alembic_version``) is taken
over as it is: the baseline revision only creates what is missing.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import DeclarativeBase

MIGRATIONS = "service:migrations"
# Any constant shared by every clinnlp process; it names the advisory lock that serializes migrations.
MIGRATION_LOCK_ID = 0x636C6E6C70


class Base(DeclarativeBase):
    """Every table of the service database (``service.keys``, ``service.jobs``, ``service.storage``,
    ``service.web.sessions``)."""


def engine_options(url: str) -> dict:
    # SQLite: wait for a busy database (several threads and workers write) instead of failing at once.
    # Others: test pooled connections before use (a database restart or failover drops them).
    return {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {"pool_pre_ping": True}


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (``None`` for other databases or an in-memory one)."""
    if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
        return None
    return Path(url[len("sqlite:///"):].split("?", 1)[0])


def open_engine(url: str) -> Engine:
    """An engine for ``url``, with the database upgraded to the newest schema."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **engine_options(url))
    upgrade(engine)
    return engine


def alembic_config(connection=None):
    """Alembic's configuration for the packaged migrations, optionally bound to an open connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine):
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        yield
        return
    from filelock import FileLock

    with FileLock(str(path) + ".migrate.lock", timeout=300):
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest), one process at a time."""
    from alembic import command

    with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends; PostgreSQL's DDL is transactional, so a process that waited
            # here finds the schema already at the revision and does nothing.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` before any migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision of the packaged migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def schema_differences(engine: Engine) -> list:
    """What differs between the tables in the code and the database's schema (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import service.storage  # noqa: F401  (registers the job_files table on Base)
    import service.jobs  # noqa: F401
    import service.keys  # noqa: F401
    import service.web.sessions  # noqa: F401

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def new_revision(message: str, folder: str | Path) -> None:
    """Write a migration for what the code's tables add to the newest revision (a developer's command).

    Run ``python -c 'from service.database import new_revision; new_revision("add x", "/tmp/scratch")'``,
    then read and edit the file it writes in ``service/migrations/versions``: autogenerate finds added and
    removed tables, columns and indexes, not renames or data changes.
    """
    from alembic import command

    import service.storage  # noqa: F401
    import service.jobs  # noqa: F401
    import service.keys  # noqa: F401
    import service.web.sessions  # noqa: F401

    engine = open_engine(f"sqlite:///{Path(folder) / 'scratch.db'}")
    with engine.begin() as connection:
        command.revision(alembic_config(connection), message=message, autogenerate=True,
                         rev_id=f"{int(head_revision()) + 1:04d}")
