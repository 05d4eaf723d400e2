"""Key scopes, expiry and last use; job data deletion and retention (the columns of main's commit 4173668).

Existing keys get every operation and jobs (``*``, what a key could do before scopes), no expiry; existing jobs
keep their data. A database that main's code of that time made with ``create_all`` already has the columns
(but no ``alembic_version``): only what is missing is added.

Revision ID: 0003
Revises: 0002
Created: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = {
    "api_keys": [
        sa.Column("scopes", sa.String(400), nullable=False, server_default="*"),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
    ],
    "jobs": [
        sa.Column("delete_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("data_deleted", sa.DateTime(timezone=True), nullable=True),
    ],
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in COLUMNS.items():
        present = {column["name"] for column in inspector.get_columns(table)}
        missing = [column for column in columns if column.name not in present]
        if missing:
            with op.batch_alter_table(table) as batch:
                for column in missing:
                    batch.add_column(column)


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column.name)
