"""Stored transcriptions and speech.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "speech",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("step_limit_reached", sa.Boolean(), nullable=False),
        sa.Column("inference_time_s", sa.Float(), nullable=False),
        sa.Column("audio_file", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("audio_file"),
    )
    op.create_index("ix_speech_created_at", "speech", ["created_at"])
    op.create_table(
        "transcriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("raw_text", sa.Text(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("inference_time_s", sa.Float(), nullable=False),
        sa.Column("audio_file", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("audio_file"),
    )
    op.create_index("ix_transcriptions_created_at", "transcriptions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_transcriptions_created_at", table_name="transcriptions")
    op.drop_table("transcriptions")
    op.drop_index("ix_speech_created_at", table_name="speech")
    op.drop_table("speech")
