"""Baseline: the schema of main at commit eb5431a (API keys and jobs), before migrations existed.

Databases made by that code have these tables but no ``alembic_version``; this revision creates only what is
missing, so it takes them over as they are (a keys-only database made by ``clinnlp keys create`` gets its jobs
table here).

Revision ID: 0001
Revises:
Created: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "api_keys" not in existing:
        op.create_table(
            "api_keys",
            sa.Column("id", sa.String(16), primary_key=True),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("key_hash", sa.String(64), nullable=False),
            sa.Column("created", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked", sa.Boolean(), nullable=False),
        )
    if "jobs" not in existing:
        op.create_table(
            "jobs",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("key_id", sa.String(16), nullable=True),
            sa.Column("operation", sa.String(16), nullable=False),
            sa.Column("options", sa.Text(), nullable=False),
            sa.Column("input_name", sa.String(64), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("owner", sa.String(128), nullable=True),
            sa.Column("cancel_requested", sa.Boolean(), nullable=False),
            sa.Column("total", sa.Integer(), nullable=False),
            sa.Column("processed", sa.Integer(), nullable=False),
            sa.Column("failed", sa.Integer(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("created", sa.DateTime(timezone=True), nullable=False),
            sa.Column("started", sa.DateTime(timezone=True), nullable=True),
            sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
            sa.Column("heartbeat", sa.DateTime(timezone=True), nullable=True),
        )
        op.create_index("ix_jobs_status", "jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("api_keys")
