"""api refund keys: an Idempotency-Key for refunds over the shop API

Revision ID: 332dea062c4b
Revises: 86976a09d6c2
Create Date: 2026-11-25 13:20:47.299028
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "332dea062c4b"
down_revision: str | None = "86976a09d6c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_refund_keys",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
        ),
        sa.PrimaryKeyConstraint("shop_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("api_refund_keys")
