"""Pruning rows kept only for a while, a batch at a time, and the lease that lets one worker at a time do it
(job_leases)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import dialect_insert
from storage.models import JobLease

NEVER = datetime(2000, 1, 1, tzinfo=UTC)  # a lease that ended long ago: free


async def delete_oldest(session: AsyncSession, *, model: Any, stamped: Any, before: datetime, limit: int) -> int:
    """Delete up to limit rows of model whose time column (stamped) is before the moment, oldest first; how many."""
    oldest = select(model.id).where(col(stamped) < before).order_by(col(stamped)).limit(limit)
    ids = list((await session.exec(oldest)).all())
    if ids:
        await session.exec(delete(model).where(col(model.id).in_(ids)))
    return len(ids)


async def take_job_lease(session: AsyncSession, *, name: str, now: datetime, until: datetime) -> bool:
    """One conditional UPDATE decides which worker runs the job (the row is made once, by whoever comes first)."""
    dialect = session.get_bind().dialect.name
    await session.exec(dialect_insert(dialect, JobLease).values(name=name, leased_until=NEVER).on_conflict_do_nothing())
    taken = await session.exec(
        update(JobLease).where(col(JobLease.name) == name, col(JobLease.leased_until) <= now).values(leased_until=until)
    )
    return bool(taken.rowcount == 1)


async def release_job_lease(session: AsyncSession, *, name: str) -> None:
    await session.exec(update(JobLease).where(col(JobLease.name) == name).values(leased_until=NEVER))
