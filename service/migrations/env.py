"""Alembic's entry point for the packaged migrations; run them through ``service.database.upgrade``."""

from alembic import context

from service.database import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the migrations through service.database.upgrade(engine), which passes a connection")
# render_as_batch: SQLite cannot alter a column in place; batch mode rebuilds the table instead.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
