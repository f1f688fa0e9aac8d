"""stats rollups

Revision ID: dd9553baa6c3
Revises: 294b2214da24
Create Date: 2026-11-25 12:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "dd9553baa6c3"
down_revision: str | None = "294b2214da24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_rollups",
        sa.Column("minutes", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("start", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rolled_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pending_refunds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minutes", "start"),
    )
    op.create_table(
        "stats_figures",
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("minutes", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("start", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(length=48), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "minutes", "start", "label"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("stats_figures")
    op.drop_table("stats_rollups")
