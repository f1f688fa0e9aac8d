"""rejected telegram updates: an update that cannot be parsed is kept with the reason, and skipped

Revision ID: b547f4085d7d
Revises: 5c1e7a9b3d42
Create Date: 2026-12-06 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b547f4085d7d"
down_revision: str | None = "5c1e7a9b3d42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("telegram_updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejection", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telegram_updates", schema=None) as batch_op:
        batch_op.drop_column("rejection")
