"""refunds resumed: a lease for asking the provider again about a refund whose worker died mid-call

Revision ID: 22f127635d52
Revises: 877f5f756364
Create Date: 2026-11-25 13:09:31.481427
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "22f127635d52"
down_revision: str | None = "877f5f756364"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leased_until", storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("leased_until")
