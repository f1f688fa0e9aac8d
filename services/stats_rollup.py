"""The /stats figures pre-aggregated: each complete 10-minute slice counted once into stats_figures, then whole
hours summed from their slices and whole UTC days from their hours, so that /stats over 30 days reads a few
thousand small rows and counts at most a quarter of an hour or so at each end of its window live. Refunds are
few: they are counted per hour, and live for the partial hours at the window's ends.

Which figures can change after their slice has passed, and how that is handled:
- orders.created_at, orders.paid_at, payments.settled_at and pay_requests.created_at are written once, as
  utcnow() taken just before the write commits (never a provider's time); payments.credited is set in the
  transaction that settles the charge and never turned off once committed (settlement takes a credit back
  only inside that same transaction). A slice is rolled SETTLE after its end, once such writes are in.
- A refund is written "pending" (with its created_at) before the provider is called, and becomes done, owed
  or failed only after the call: a rolled hour remembers how many of its refunds were still pending, /stats
  reads that hour's refunds live, and each run counts them again until none is pending. Refunds are kept
  per hour only; slices and days leave them out, so those never change.

Claims: a period's stats_rollups row is inserted first, in the transaction that writes its figures, with
ON CONFLICT DO NOTHING; a second worker inserting it waits (PostgreSQL) or queues for the write lock (SQLite)
and then finds it taken. A crash rolls the whole period back. The figures' primary key (metric, period,
label) makes counting a period twice impossible anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.period_tally import REFUND_METRICS, SETTLED_METRICS, count_refunds, count_settled
from storage.database import Database
from storage.models import StatsFigure, utcnow
from storage.queries import stats_rollups
from storage.queries.live_stats import first_order_time

SLICE, HOUR, DAY = timedelta(minutes=10), timedelta(hours=1), timedelta(days=1)
SETTLE = timedelta(minutes=5)  # writers take their timestamps a moment before they commit
HORIZON = timedelta(days=31)  # /stats looks back 30 days at most: older slices are not rolled
KEEP = timedelta(days=40)  # rollups older than this are deleted
BATCH = 144  # slices counted by one run (a day's): a long backlog is worked through a run at a time
CLAIMS_PER_STATEMENT = 1000  # well under the databases' limits on bound parameters
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Span = tuple[datetime, datetime]  # [start, end)


def minutes(length: timedelta) -> int:
    return int(length / timedelta(minutes=1))


def floor_to(moment: datetime, length: timedelta) -> datetime:
    """The start of the UTC slice, hour or day the moment is in."""
    return EPOCH + (moment - EPOCH) // length * length


@dataclass(frozen=True, slots=True)
class RollupRun:
    rolled: int  # slices counted by this run
    left: int  # complete slices still waiting for a run


class StatsRollup:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, *, now: datetime | None = None, batch: int = BATCH) -> RollupRun:
        """Count up to `batch` complete slices (newest first: /stats today and 7d benefit soonest), recount the
        refunds that were pending, sum complete hours and days, and drop rollups nobody reads any more."""
        now = now or utcnow()
        async with self.db.transaction() as session:
            # Nothing can have happened before the first order (payments, requests and refunds all follow one).
            oldest = await first_order_time(session)
        due = await self._due_slices(now, oldest)
        rolled = 0
        for start in due[:batch]:
            rolled += await self.roll_slice(start)
        await self.recount_pending_refunds()
        await self._sum_complete(now, HOUR, SLICE, oldest)
        await self._sum_complete(now, DAY, HOUR, oldest)
        await self._prune(now)
        return RollupRun(rolled, max(0, len(due) - batch))

    async def _due_slices(self, now: datetime, oldest: datetime | None) -> list[datetime]:
        first, end = floor_to(now - HORIZON, DAY), floor_to(now - SETTLE, SLICE)
        async with self.db.transaction() as session:
            rolled = await stats_rollups.rolled_starts(session, minutes=minutes(SLICE), since=first)
        due = [start for start in _steps(first, end, SLICE) if start not in rolled]
        empty = await self._claim_empty(SLICE, due, oldest)
        return sorted(set(due) - set(empty), reverse=True)

    async def _claim_empty(self, length: timedelta, due: list[datetime], oldest: datetime | None) -> list[datetime]:
        """Periods over before the first order are recorded as rolled, with no figures, without counting
        anything: on a fresh database that is the whole horizon, claimed a thousand a statement."""
        empty = [start for start in due if oldest is None or start + length <= oldest]
        for chunk in range(0, len(empty), CLAIMS_PER_STATEMENT):
            async with self.db.transaction() as session:
                await self._claim(session, length, empty[chunk : chunk + CLAIMS_PER_STATEMENT])
        return empty

    async def roll_slice(self, start: datetime) -> int:
        """Count the slice from the base tables and store it; 0 when another worker has it already."""
        async with self.db.transaction() as session:
            if await self._claim(session, SLICE, [start]) != 1:
                return 0
            tally = await count_settled(session, start, start + SLICE)
            session.add_all(_figures(SLICE, start, tally.rows()))
        return 1

    async def recount_pending_refunds(self) -> None:
        async with self.db.transaction() as session:
            pending = await stats_rollups.starts_with_pending_refunds(session, minutes=minutes(HOUR))
        for start in pending:
            async with self.db.transaction() as session:
                if not await stats_rollups.take_pending_period(
                    session, minutes=minutes(HOUR), start=start, at=utcnow()
                ):
                    continue
                tally = await count_refunds(session, start, start + HOUR)
                await stats_rollups.delete_figures(session, metrics=REFUND_METRICS, minutes=minutes(HOUR), start=start)
                session.add_all(_figures(HOUR, start, tally.rows()))
                await self._set_pending(session, start, tally.pending_refunds)

    async def _sum_complete(self, now: datetime, length: timedelta, part: timedelta, oldest: datetime | None) -> None:
        """Sum each period (hour, day) whose parts (slices, hours) are all rolled into one row per figure; an
        hour also counts its refunds (its last slice was rolled SETTLE after the hour's end)."""
        first, parts = floor_to(now - HORIZON, DAY), length // part
        async with self.db.transaction() as session:
            rolled = await stats_rollups.rolled_periods(session, minutes=[minutes(length), minutes(part)], since=first)
        found: dict[datetime, int] = {}
        for size, start in rolled:
            if size == minutes(part):
                found[floor_to(start, length)] = found.get(floor_to(start, length), 0) + 1
        done = {start for size, start in rolled if size == minutes(length)}
        ready = sorted(start for start, count in found.items() if count == parts and start not in done)
        empty = await self._claim_empty(length, ready, oldest)
        for period in ready[len(empty) :]:  # ready is in time order: the empty periods come first
            async with self.db.transaction() as session:
                if await self._claim(session, length, [period]) != 1:
                    continue
                sums = await stats_rollups.figure_sums(
                    session, metrics=SETTLED_METRICS, minutes=minutes(part), start=period, end=period + length
                )
                session.add_all(_figures(length, period, sums))
                if length == HOUR:
                    refunds = await count_refunds(session, period, period + HOUR)
                    session.add_all(_figures(HOUR, period, refunds.rows()))
                    await self._set_pending(session, period, refunds.pending_refunds)

    async def _prune(self, now: datetime) -> None:
        cutoff = now - KEEP
        async with self.db.transaction() as session:
            await stats_rollups.delete_before(session, cutoff=cutoff)

    @staticmethod
    async def _claim(session: AsyncSession, length: timedelta, starts: Sequence[datetime]) -> int:
        return await stats_rollups.claim_periods(session, minutes=minutes(length), starts=starts, at=utcnow())

    @staticmethod
    async def _set_pending(session: AsyncSession, start: datetime, pending: int) -> None:
        await stats_rollups.set_pending_refunds(session, minutes=minutes(HOUR), start=start, pending=pending)


def _steps(start: datetime, end: datetime, step: timedelta) -> Iterable[datetime]:
    while start < end:
        yield start
        start += step


def _figures(length: timedelta, start: datetime, rows: Iterable[tuple[Any, ...]]) -> list[StatsFigure]:
    return [
        StatsFigure(
            metric=metric,
            minutes=minutes(length),
            start=start,
            label=label,
            count=int(count),
            amount_minor=int(amount or 0),
        )
        for metric, label, count, amount in rows
    ]
