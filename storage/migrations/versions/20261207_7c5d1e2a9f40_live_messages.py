"""live messages: what offers to pay, share, cancel or chip in for an order or request, remembered to be tidied

Revision ID: 7c5d1e2a9f40
Revises: 4b8e2d7f1a63
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "7c5d1e2a9f40"
down_revision: str | None = "4b8e2d7f1a63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("checkout_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("live_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_messages_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_live_messages_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_live_messages_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("live_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_messages_request_id"))
        batch_op.drop_index(batch_op.f("ix_live_messages_order_id"))
        batch_op.drop_index(batch_op.f("ix_live_messages_created_at"))
    op.drop_table("live_messages")
