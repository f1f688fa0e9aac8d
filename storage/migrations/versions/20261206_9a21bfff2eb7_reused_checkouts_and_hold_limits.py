"""reused checkouts and hold limits: a pending attempt keeps its checkout to show again; a hold has a last moment

Revision ID: 9a21bfff2eb7
Revises: 5e3a9c1d7b24
Create Date: 2026-12-06 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "9a21bfff2eb7"
down_revision: str | None = "5e3a9c1d7b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkout_kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column("checkout_link", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("checkout_expires_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("pay_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold_limit", storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pay_requests", schema=None) as batch_op:
        batch_op.drop_column("hold_limit")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("checkout_expires_at")
        batch_op.drop_column("checkout_link")
        batch_op.drop_column("checkout_kind")
