"""live messages posted through the chat picker: known by their inline_message_id alone (no chat, no message id)

Revision ID: 2d8f6b1c4e93
Revises: e3b9a6c41d58
Create Date: 2026-12-07 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "2d8f6b1c4e93"
down_revision: str | None = "e3b9a6c41d58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("live_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inline_message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.alter_column("chat_id", existing_type=sa.BigInteger(), nullable=True)
        batch_op.alter_column("message_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Messages known only by an inline id have no place in the older table: they are forgotten, not tidied.
    op.execute("DELETE FROM live_messages WHERE chat_id IS NULL OR message_id IS NULL")
    with op.batch_alter_table("live_messages", schema=None) as batch_op:
        batch_op.alter_column("message_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("chat_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("inline_message_id")
