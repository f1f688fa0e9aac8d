"""The /stats figures pre-aggregated: each complete hour counted once into stats_figures, whole UTC days summed
from their hours, so that /stats over 30 days reads a few thousand small rows instead of a million orders.

Which figures can change after their hour has passed, and how that is handled:
- orders.created_at, orders.paid_at, payments.settled_at and pay_requests.created_at are written once, as
  utcnow() taken just before the write commits (never a provider's time); payments.credited is set in the
  transaction that settles the charge and never turned off once committed (settlement takes a credit back
  only inside that same transaction). An hour is rolled SETTLE after its end, once such writes are in.
- A refund is written "pending" (with its created_at) before the provider is called, and becomes done, owed
  or failed only after the call: a rolled hour remembers how many of its refunds were still pending, /stats
  reads that hour's refunds live, and each run counts them again until none is pending. Day rows leave
  refunds out, so they never change.

Claims: a period's stats_rollups row is inserted first, in the transaction that writes its figures, with
ON CONFLICT DO NOTHING; a second worker inserting it waits (PostgreSQL) or queues for the write lock (SQLite)
and then finds it taken. A crash rolls the whole period back. The figures' primary key (period, metric,
label) makes counting a period twice impossible anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.period_tally import REFUND_METRICS, SETTLED_METRICS, TIME_TO_PAY, Tally, count_live, count_refunds
from storage.database import Database
from storage.models import Order, RolledPeriod, StatsFigure, utcnow

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SETTLE = timedelta(minutes=5)  # writers take their timestamps a moment before they commit
HORIZON = timedelta(days=31)  # /stats looks back 30 days at most: older hours are not rolled
KEEP = timedelta(days=40)  # rollups older than this are deleted
BATCH = 24  # hours rolled by one run: a long backlog is worked through a run at a time

Span = tuple[datetime, datetime]  # [start, end)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class RollupRun:
    rolled: int  # hours counted by this run
    left: int  # complete hours still waiting for a run


class StatsRollup:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, *, now: datetime | None = None, batch: int = BATCH) -> RollupRun:
        """Roll up to `batch` complete hours (newest first: /stats today and 7d benefit soonest), recount the
        refunds that were pending, sum complete days, and drop rollups nobody reads any more."""
        now = now or utcnow()
        due = await self._due_hours(now)
        rolled = 0
        for hour in due[:batch]:
            rolled += await self.roll_hour(hour)
        await self.recount_pending_refunds()
        await self.roll_days(now)
        await self._prune(now)
        return RollupRun(rolled, max(0, len(due) - batch))

    async def _due_hours(self, now: datetime) -> list[datetime]:
        first, end = hour_of(now - HORIZON), hour_of(now - SETTLE)
        async with self.db.transaction() as session:
            rolled = set(
                (
                    await session.exec(
                        select(RolledPeriod.start).where(RolledPeriod.hours == 1, RolledPeriod.start >= first)
                    )
                ).all()
            )
            oldest = (await session.exec(select(func.min(Order.created_at)))).one()
        hours = [hour for hour in _steps(first, end, HOUR) if hour not in rolled]
        # Nothing can have happened before the first order (payments, requests and refunds all follow one):
        # those hours are recorded as rolled, with no figures, without counting anything.
        empty = [hour for hour in hours if oldest is None or hour + HOUR <= oldest]
        if empty:
            async with self.db.transaction() as session:
                await session.exec(self._claim([(1, hour) for hour in empty]))
        return sorted(set(hours) - set(empty), reverse=True)

    async def roll_hour(self, hour: datetime) -> int:
        """Count the hour from the base tables and store it; 0 when another worker has it already."""
        async with self.db.transaction() as session:
            if (await session.exec(self._claim([(1, hour)]))).rowcount != 1:
                return 0
            tally = await count_live(session, hour, hour + HOUR)
            session.add_all(_figures(1, hour, tally.rows()))
            if tally.pending_refunds:
                await self._set_pending(session, hour, tally.pending_refunds)
        return 1

    async def recount_pending_refunds(self) -> None:
        async with self.db.transaction() as session:
            hours = (
                await session.exec(
                    select(RolledPeriod.start).where(RolledPeriod.hours == 1, col(RolledPeriod.pending_refunds) > 0)
                )
            ).all()
        for hour in hours:
            async with self.db.transaction() as session:
                # The row lock taken here makes a second worker wait, then see whether anything is left to do.
                claimed = await session.exec(
                    update(RolledPeriod)
                    .where(
                        col(RolledPeriod.hours) == 1,
                        col(RolledPeriod.start) == hour,
                        col(RolledPeriod.pending_refunds) > 0,
                    )
                    .values(rolled_at=utcnow())
                )
                if claimed.rowcount != 1:
                    continue
                tally = await count_refunds(session, hour, hour + HOUR)
                await session.exec(
                    delete(StatsFigure).where(
                        col(StatsFigure.hours) == 1,
                        col(StatsFigure.start) == hour,
                        col(StatsFigure.metric).in_(REFUND_METRICS),
                    )
                )
                session.add_all(_figures(1, hour, tally.rows()))
                await self._set_pending(session, hour, tally.pending_refunds)

    async def roll_days(self, now: datetime) -> None:
        """Sum each UTC day whose 24 hours are all rolled into one row per figure (refunds left out)."""
        first = day_of(now - HORIZON)
        async with self.db.transaction() as session:
            rolled = (
                await session.exec(select(RolledPeriod.hours, RolledPeriod.start).where(RolledPeriod.start >= first))
            ).all()
        hours_by_day: dict[datetime, int] = {}
        for hours, start in rolled:
            if hours == 1:
                hours_by_day[day_of(start)] = hours_by_day.get(day_of(start), 0) + 1
        done = {start for hours, start in rolled if hours == 24}
        for day in sorted(day for day, count in hours_by_day.items() if count == 24 and day not in done):
            async with self.db.transaction() as session:
                if (await session.exec(self._claim([(24, day)]))).rowcount != 1:
                    continue
                sums = (
                    await session.exec(
                        select(
                            StatsFigure.metric,
                            StatsFigure.label,
                            func.sum(col(StatsFigure.count)),
                            func.sum(col(StatsFigure.amount_minor)),
                        )
                        .where(
                            col(StatsFigure.hours) == 1,
                            col(StatsFigure.start) >= day,
                            col(StatsFigure.start) < day + DAY,
                            col(StatsFigure.metric).in_(SETTLED_METRICS),
                        )
                        .group_by(col(StatsFigure.metric), col(StatsFigure.label))
                    )
                ).all()
                session.add_all(_figures(24, day, [tuple(row) for row in sums]))

    async def _prune(self, now: datetime) -> None:
        cutoff = now - KEEP
        async with self.db.transaction() as session:
            old = (await session.exec(select(RolledPeriod.start).where(RolledPeriod.start < cutoff).limit(1))).first()
            if old is None:
                return
            await session.exec(delete(StatsFigure).where(col(StatsFigure.start) < cutoff))
            await session.exec(delete(RolledPeriod).where(col(RolledPeriod.start) < cutoff))

    def _claim(self, periods: Sequence[tuple[int, datetime]]) -> Any:
        dialect = postgresql if self.db.engine.dialect.name == "postgresql" else sqlite
        rows = [
            {"hours": hours, "start": start, "rolled_at": utcnow(), "pending_refunds": 0} for hours, start in periods
        ]
        return dialect.insert(RolledPeriod).values(rows).on_conflict_do_nothing()

    @staticmethod
    async def _set_pending(session: AsyncSession, hour: datetime, pending: int) -> None:
        await session.exec(
            update(RolledPeriod)
            .where(col(RolledPeriod.hours) == 1, col(RolledPeriod.start) == hour)
            .values(pending_refunds=pending)
        )


def _steps(start: datetime, end: datetime, step: timedelta) -> Iterable[datetime]:
    while start < end:
        yield start
        start += step


def _figures(hours: int, start: datetime, rows: Iterable[tuple[Any, ...]]) -> list[StatsFigure]:
    return [
        StatsFigure(
            hours=hours, start=start, metric=metric, label=label, count=int(count), amount_minor=int(amount or 0)
        )
        for metric, label, count, amount in rows
    ]


# -- reading, for /stats -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coverage:
    """How a window of /stats is read: which rolled periods, and which stretches counted live."""

    days: list[Span] = field(default_factory=list)  # runs of rolled days (starts in [a, b)): all but refunds
    hours: list[Span] = field(default_factory=list)  # runs of rolled hours outside those days: all but refunds
    refund_hours: list[Span] = field(default_factory=list)  # runs of rolled hours with no refund pending
    live: list[Span] = field(default_factory=list)  # stretches not rolled: every figure counted live
    live_refunds: list[Span] = field(default_factory=list)  # rolled hours with refunds pending: refunds live

    @property
    def rolled(self) -> bool:
        return bool(self.days or self.hours)

    @property
    def live_time(self) -> timedelta:
        return sum((end - start for start, end in self.live), timedelta())


async def coverage(session: AsyncSession, since: datetime, until: datetime) -> Coverage:
    first, end = hour_of(since + HOUR - timedelta(microseconds=1)), hour_of(until)  # whole hours inside
    if first >= end:
        return Coverage(live=[(since, until)])
    found = (
        await session.exec(
            select(RolledPeriod.hours, RolledPeriod.start, RolledPeriod.pending_refunds).where(
                col(RolledPeriod.start) >= first, col(RolledPeriod.start) < end
            )
        )
    ).all()
    pending = {start: count for hours, start, count in found if hours == 1}
    days = {start for hours, start, _count in found if hours == 24 and start + DAY <= end}
    rolled = [hour for hour in _steps(first, end, HOUR) if hour in pending]
    live = _complement(since, until, rolled)
    return Coverage(
        days=_runs(sorted(days), DAY),
        hours=_runs([hour for hour in rolled if day_of(hour) not in days], HOUR),
        refund_hours=_runs([hour for hour in rolled if not pending[hour]], HOUR),
        live=live,
        live_refunds=_runs([hour for hour in rolled if pending[hour]], HOUR),
    )


async def rolled_tally(session: AsyncSession, cover: Coverage) -> Tally:
    tally = Tally()
    for hours, spans, refunds in ((24, cover.days, False), (1, cover.hours, False), (1, cover.refund_hours, True)):
        for start, end in spans:
            metric = col(StatsFigure.metric)
            statement = (
                select(
                    StatsFigure.metric,
                    StatsFigure.label,
                    func.sum(col(StatsFigure.count)),
                    func.sum(col(StatsFigure.amount_minor)),
                )
                .where(
                    col(StatsFigure.hours) == hours,
                    col(StatsFigure.start) >= start,
                    col(StatsFigure.start) < end,
                    metric.in_(REFUND_METRICS if refunds else SETTLED_METRICS),
                )
                .group_by(metric, col(StatsFigure.label))
            )
            for name, label, count, amount in (await session.exec(statement)).all():
                if name == TIME_TO_PAY:
                    tally.histogram[int(label)] += int(count)
                else:
                    tally.add(name, label, count, amount)
    return tally


def _runs(starts: Sequence[datetime], step: timedelta) -> list[Span]:
    """Sorted period starts -> [start, end) spans of consecutive ones."""
    spans: list[Span] = []
    for start in starts:
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], start + step)
        else:
            spans.append((start, start + step))
    return spans


def _complement(since: datetime, until: datetime, rolled: Sequence[datetime]) -> list[Span]:
    """The parts of [since, until) outside the rolled hours (sorted, each wholly inside the window)."""
    spans: list[Span] = []
    cursor = since
    for start, end in _runs(rolled, HOUR):
        if start > cursor:
            spans.append((cursor, start))
        cursor = end
    if cursor < until:
        spans.append((cursor, until))
    return spans
