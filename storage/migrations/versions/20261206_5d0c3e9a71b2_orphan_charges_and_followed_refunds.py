"""orphan charges and followed refunds: money for unknown checkouts is kept; a refund records what the provider says

Revision ID: 5d0c3e9a71b2
Revises: 9a21bfff2eb7
Create Date: 2026-12-06 18:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "5d0c3e9a71b2"
down_revision: str | None = "9a21bfff2eb7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orphan_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("charge_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("provider_charge_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("payload", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("payer_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("refund_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("leased_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "charge_ref", name="uq_orphan_charges_provider_charge"),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("asked_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("finished_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_refunds_provider_refund_ref", ["provider_refund_ref"], unique=False)
    # A refund that failed before this revision failed in the admin's hands, who saw why: nothing to tell.
    op.execute("UPDATE refunds SET notified_at = created_at WHERE status = 'failed' AND notified_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_provider_refund_ref")
        batch_op.drop_column("finished_at")
        batch_op.drop_column("error")
        batch_op.drop_column("asked_minor")
    op.drop_table("orphan_charges")
