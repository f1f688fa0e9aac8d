"""star ledger: the bot's Telegram Stars transactions as read from getStarTransactions, each with its match

Revision ID: 8e4a2c7b5d19
Revises: 2d8f6b1c4e93
Create Date: 2026-12-07 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "8e4a2c7b5d19"
down_revision: str | None = "2d8f6b1c4e93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "star_ledger",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("charge_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("incoming", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("partner", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("made_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("matched", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_star_ledger_charge", "star_ledger", ["charge_id", "incoming"], unique=False)
    op.create_index("ix_star_ledger_matched", "star_ledger", ["matched", "position"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_star_ledger_matched", table_name="star_ledger")
    op.drop_index("ix_star_ledger_charge", table_name="star_ledger")
    op.drop_table("star_ledger")
