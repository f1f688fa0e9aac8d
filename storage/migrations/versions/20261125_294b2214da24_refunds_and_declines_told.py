"""refunds and declines told

Revision ID: 294b2214da24
Revises: 1e178321b029
Create Date: 2026-11-25 11:40:33.555665
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "294b2214da24"
down_revision: str | None = "1e178321b029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("declined_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_payments_declined_at", ["declined_at"], unique=False)

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    # Refunds made before this column existed were told at the time: do not tell them again. Declines made
    # before it have no declined_at, so they are not told again either.
    op.execute(
        sa.text("UPDATE refunds SET notified_at = created_at WHERE status IN (:done, :owed)").bindparams(
            done="done", owed="owed"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("notified_at")

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_declined_at")
        batch_op.drop_column("declined_at")
