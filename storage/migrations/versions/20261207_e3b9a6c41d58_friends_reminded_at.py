"""friends reminded: when a requester last reminded the friends who opened their request (at most once a while)

Revision ID: e3b9a6c41d58
Revises: 7c5d1e2a9f40
Create Date: 2026-12-07 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "e3b9a6c41d58"
down_revision: str | None = "7c5d1e2a9f40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pay_requests") as batch:
        batch.add_column(sa.Column("friends_reminded_at", storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pay_requests") as batch:
        batch.drop_column("friends_reminded_at")
