"""telling outbox: what people must be told is a row written with the change; the told marks on charges and
refunds go

Revision ID: 4b8e2d7f1a63
Revises: 3f6a1c2e9b70
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "4b8e2d7f1a63"
down_revision: str | None = "3f6a1c2e9b70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tellings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("orphan_id", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tellings", schema=None) as batch_op:
        batch_op.create_index("ix_tellings_due", ["done_at", "claimed_until"], unique=False)
    # What was left untold by the old marks when this runs is not told: at most a minute's receipts of a worker
    # that died just before the upgrade.
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("notified_at")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("notified_at")


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    # Everything up to now counts as told, so the older code does not tell it all again.
    op.execute("UPDATE payments SET notified_at = COALESCE(settled_at, declined_at, created_at)")
    op.execute("UPDATE refunds SET notified_at = COALESCE(finished_at, created_at)")
    with op.batch_alter_table("tellings", schema=None) as batch_op:
        batch_op.drop_index("ix_tellings_due")
    op.drop_table("tellings")
