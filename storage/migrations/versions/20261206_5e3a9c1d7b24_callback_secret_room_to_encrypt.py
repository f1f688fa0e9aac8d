"""callback secret room to encrypt: shops.callback_secret holds a Fernet token when SECRETS_KEY is set

Revision ID: 5e3a9c1d7b24
Revises: fbfa65b4db33
Create Date: 2026-12-06 18:40:00.000000
"""

from collections.abc import Sequence

import sqlmodel
from alembic import op

revision: str = "5e3a9c1d7b24"
down_revision: str | None = "fbfa65b4db33"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.alter_column(
            "callback_secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=128),
            type_=sqlmodel.sql.sqltypes.AutoString(length=256),
            existing_nullable=True,
        )


def downgrade() -> None:
    # Encrypted values do not fit 128 characters: run `python -m bot rotate-secrets` without SECRETS_KEY first.
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.alter_column(
            "callback_secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=256),
            type_=sqlmodel.sql.sqltypes.AutoString(length=128),
            existing_nullable=True,
        )
