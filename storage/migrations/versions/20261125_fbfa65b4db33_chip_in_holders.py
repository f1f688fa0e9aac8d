"""chip-in holders: who started a pending chip-in, so its part is kept for them a while

Revision ID: fbfa65b4db33
Revises: 332dea062c4b
Create Date: 2026-11-25 14:38:06.059820
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "fbfa65b4db33"
down_revision: str | None = "332dea062c4b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("holder")
