"""button states: what admins' buttons stand for, in the database rather than in one worker's memory

Revision ID: 877f5f756364
Revises: dd9553baa6c3
Create Date: 2026-11-25 11:52:30.764615
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "877f5f756364"
down_revision: str | None = "dd9553baa6c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "button_states",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("button_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_button_states_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("button_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_button_states_user_id"))

    op.drop_table("button_states")
