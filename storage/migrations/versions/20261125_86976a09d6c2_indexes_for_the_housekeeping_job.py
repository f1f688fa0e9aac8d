"""indexes for the housekeeping job

Revision ID: 86976a09d6c2
Revises: 22f127635d52
Create Date: 2026-11-25 13:12:45.767752
"""

from collections.abc import Sequence

from alembic import op

revision: str = "86976a09d6c2"
down_revision: str | None = "22f127635d52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("provider_notices", schema=None) as batch_op:
        batch_op.create_index("ix_provider_notices_status_received", ["status", "received_at"], unique=False)

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_status_created", ["status", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_status_created")

    with op.batch_alter_table("provider_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_notices_status_received")
