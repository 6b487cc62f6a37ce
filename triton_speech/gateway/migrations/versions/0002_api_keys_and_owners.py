"""API keys; each stored row owned by a key; ids never reused (SQLite: AUTOINCREMENT).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
STORED = ("transcriptions", "speech")


def recreate() -> str:
    # SQLite can only make a table AUTOINCREMENT by building it anew (batch mode copies the rows, and the largest
    # id so far becomes the sequence's start); other databases alter the table in place.
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
        sqlite_autoincrement=True,
    )
    for table in STORED:
        with op.batch_alter_table(table, recreate=recreate(), table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.add_column(sa.Column("key_id", sa.Integer(), nullable=True))
            batch.create_index(f"ix_{table}_key_id", ["key_id"])
            batch.create_foreign_key(f"fk_{table}_key_id_api_keys", "api_keys", ["key_id"], ["id"])


def downgrade() -> None:
    for table in STORED:
        with op.batch_alter_table(table, recreate=recreate()) as batch:
            batch.drop_constraint(f"fk_{table}_key_id_api_keys", type_="foreignkey")
            batch.drop_index(f"ix_{table}_key_id")
            batch.drop_column("key_id")
    op.drop_table("api_keys")
