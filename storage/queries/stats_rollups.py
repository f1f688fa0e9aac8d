"""The /stats rollups: which periods are rolled (stats_rollups) and their figures (stats_figures)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import dialect_insert
from storage.models import RolledPeriod, StatsFigure


@functools.cache
def _claims(dialect_name: str) -> Any:
    return dialect_insert(dialect_name, RolledPeriod.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]


async def claim_periods(session: AsyncSession, *, minutes: int, starts: Sequence[datetime], at: datetime) -> int:
    """Insert the periods' claims (those not claimed yet); how many were new, when there was one."""
    rows = [{"minutes": minutes, "start": start, "rolled_at": at, "pending_refunds": 0} for start in starts]
    # One compiled statement, its rows as parameters: a statement with the rows written into its VALUES
    # was compiled anew for every claim, CPU growing with the rows, all in one stretch, while every update
    # waited (a fresh start claims the whole 31-day horizon this way).
    connection = await session.connection()
    result = await connection.execute(_claims(connection.dialect.name), rows[0] if len(rows) == 1 else rows)
    return int(result.rowcount)


async def rolled_starts(session: AsyncSession, *, minutes: int, since: datetime) -> set[datetime]:
    statement = select(RolledPeriod.start).where(RolledPeriod.minutes == minutes, col(RolledPeriod.start) >= since)
    return set((await session.exec(statement)).all())


async def rolled_periods(
    session: AsyncSession, *, minutes: Sequence[int], since: datetime
) -> list[tuple[int, datetime]]:
    """(minutes, start) of the rolled periods of these lengths from `since` on."""
    statement = select(RolledPeriod.minutes, RolledPeriod.start).where(
        col(RolledPeriod.minutes).in_(minutes), col(RolledPeriod.start) >= since
    )
    return [(size, start) for size, start in (await session.exec(statement)).all()]


async def starts_with_pending_refunds(session: AsyncSession, *, minutes: int) -> list[datetime]:
    statement = select(RolledPeriod.start).where(RolledPeriod.minutes == minutes, col(RolledPeriod.pending_refunds) > 0)
    return list((await session.exec(statement)).all())


async def take_pending_period(session: AsyncSession, *, minutes: int, start: datetime, at: datetime) -> bool:
    """Mark the period recounted if it still has pending refunds; True if it had. The row lock taken here makes
    a second worker wait, then see whether anything is left to do."""
    taken = await session.exec(
        update(RolledPeriod)
        .where(
            col(RolledPeriod.minutes) == minutes,
            col(RolledPeriod.start) == start,
            col(RolledPeriod.pending_refunds) > 0,
        )
        .values(rolled_at=at)
    )
    return bool(taken.rowcount == 1)


async def set_pending_refunds(session: AsyncSession, *, minutes: int, start: datetime, pending: int) -> None:
    await session.exec(
        update(RolledPeriod)
        .where(col(RolledPeriod.minutes) == minutes, col(RolledPeriod.start) == start)
        .values(pending_refunds=pending)
    )


async def delete_figures(session: AsyncSession, *, metrics: Sequence[str], minutes: int, start: datetime) -> None:
    await session.exec(
        delete(StatsFigure).where(
            col(StatsFigure.metric).in_(metrics),
            col(StatsFigure.minutes) == minutes,
            col(StatsFigure.start) == start,
        )
    )


async def delete_before(session: AsyncSession, *, cutoff: datetime) -> None:
    """Drop the rollups (claims and figures) of periods that start before the cutoff, if there are any."""
    old = (await session.exec(select(RolledPeriod.start).where(RolledPeriod.start < cutoff).limit(1))).first()
    if old is None:
        return
    await session.exec(delete(StatsFigure).where(col(StatsFigure.start) < cutoff))
    await session.exec(delete(RolledPeriod).where(col(RolledPeriod.start) < cutoff))


async def figure_sums(
    session: AsyncSession, *, metrics: Sequence[str], minutes: int, start: datetime, end: datetime
) -> list[tuple[Any, ...]]:
    """(metric, label, count, amount) summed over the rolled periods of this length that start in [start, end)."""
    statement = (
        select(
            StatsFigure.metric,
            StatsFigure.label,
            func.sum(col(StatsFigure.count)),
            func.sum(col(StatsFigure.amount_minor)),
        )
        .where(
            col(StatsFigure.metric).in_(metrics),
            col(StatsFigure.minutes) == minutes,
            col(StatsFigure.start) >= start,
            col(StatsFigure.start) < end,
        )
        .group_by(col(StatsFigure.metric), col(StatsFigure.label))
    )
    return [tuple(row) for row in (await session.exec(statement)).all()]


async def rolled_with_pending(
    session: AsyncSession, *, minutes: Sequence[int], start: datetime, end: datetime
) -> list[tuple[int, datetime, int]]:
    """(minutes, start, pending_refunds) of the rolled periods of these lengths that start in [start, end)."""
    statement = select(RolledPeriod.minutes, RolledPeriod.start, RolledPeriod.pending_refunds).where(
        col(RolledPeriod.minutes).in_(minutes),
        col(RolledPeriod.start) >= start,
        col(RolledPeriod.start) < end,
    )
    return [(size, begins, pending) for size, begins, pending in (await session.exec(statement)).all()]


async def rolled_starts_between(
    session: AsyncSession, *, minutes: int, start: datetime, end: datetime
) -> list[datetime]:
    """The starts of the rolled periods of this length that start in [start, end)."""
    statement = select(RolledPeriod.start).where(
        col(RolledPeriod.minutes) == minutes, col(RolledPeriod.start) >= start, col(RolledPeriod.start) < end
    )
    return list((await session.exec(statement)).all())
