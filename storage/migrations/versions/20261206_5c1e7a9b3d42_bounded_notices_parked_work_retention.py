"""bounded notices, parked work, retention: short records of rejected notices, tries counted on notices and
refunds (parked after a few), and a lease for the pruning job

Revision ID: 5c1e7a9b3d42
Revises: 5d0c3e9a71b2
Create Date: 2026-12-06 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "5c1e7a9b3d42"
down_revision: str | None = "5d0c3e9a71b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rejected_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("remote", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rejected_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rejected_notices_received_at"), ["received_at"], unique=False)
    op.create_table(
        "job_leases",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("leased_until", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("provider_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    # Notices that failed verification were kept in full: keep only their short record from now on.
    op.execute(
        "INSERT INTO rejected_notices (provider, received_at, size, remote, reason) "
        "SELECT provider, received_at, length(body), remote, substr(coalesce(error, 'rejected'), 1, 200) "
        "FROM provider_notices WHERE status = 'rejected'"
    )
    op.execute("DELETE FROM provider_notices WHERE status = 'rejected'")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("provider_notices", schema=None) as batch_op:
        batch_op.drop_column("attempts")
    op.drop_table("job_leases")
    with op.batch_alter_table("rejected_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rejected_notices_received_at"))
    op.drop_table("rejected_notices")
