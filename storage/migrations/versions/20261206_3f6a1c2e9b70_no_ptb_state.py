"""No PTB persistence: the ptb_state table held user, chat and bot data and conversations nothing used.

Revision ID: 3f6a1c2e9b70
Revises: b547f4085d7d
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "3f6a1c2e9b70"
down_revision: str | None = "b547f4085d7d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("ptb_state")


def downgrade() -> None:
    op.create_table(
        "ptb_state",
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
