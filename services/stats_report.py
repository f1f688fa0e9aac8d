"""The /stats figures of a period: from the rollup where it has been, counted live for the rest.

Figures are aggregated by the database (COUNT, SUM, GROUP BY) over ranges of timestamp columns: nothing here
loads a table into memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.money import Money
from services.period_tally import (
    BY_FRIENDS,
    CONTRIBUTIONS,
    CREATED,
    OWED,
    PAID,
    PROVIDER,
    REFUNDED,
    SPLIT_REQUESTS,
    Tally,
    count_refunds,
    count_settled,
)
from services.stats_coverage import coverage, rolled_tally
from storage.database import Database
from storage.models import utcnow
from storage.queries import live_stats as live

# /stats counts at most this much of its window live (normally the partial first slice and the last quarter
# of an hour or so, not rolled yet); beyond it the rollup is catching up, and the whole window is counted live.
MOST_LIVE = timedelta(hours=6)


class Period(StrEnum):
    TODAY = "today"
    WEEK = "7d"
    MONTH = "30d"


def period_start(period: Period, now: datetime) -> datetime:
    if period == Period.TODAY:
        return datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)  # midnight UTC
    return now - timedelta(days=7 if period == Period.WEEK else 30)


@dataclass(frozen=True, slots=True)
class Totals:
    count: int = 0
    amounts: tuple[Money, ...] = ()  # one per currency, by currency code


@dataclass(frozen=True, slots=True)
class PeriodStats:
    since: datetime
    until: datetime
    created: int  # orders created in the period
    paid: int  # orders paid in the period (whenever they were created)
    revenue: tuple[Money, ...]  # credited to the orders paid in the period, in the currencies taken
    paid_by_friends: int  # of `paid`: a friend (or friends) paid through a pay-for-me request
    split_requests: int  # chip-in requests opened in the period
    contributions: int  # chip-ins credited in the period
    median_time_to_pay: timedelta | None  # from the order's creation (the link) to its payment
    refunded: Totals  # refunds made in the period through the providers
    owed: Totals  # refunds recorded as owed, to be made at the provider by hand
    providers: dict[str, Totals] = field(default_factory=dict)  # paid orders' charges, by provider

    @property
    def paid_by_shopper(self) -> int:
        return self.paid - self.paid_by_friends


def _totals(rows: Sequence[Any]) -> Totals:
    """(currency, count, sum) rows -> Totals. PostgreSQL sums BIGINT as NUMERIC, hence int()."""
    count = sum(int(row[1]) for row in rows)
    amounts = tuple(Money(int(row[2] or 0), row[0]) for row in sorted(rows, key=lambda row: row[0]))
    return Totals(count, amounts)


def _by_provider(rows: Sequence[Any]) -> dict[str, Totals]:
    """(provider, currency, count, sum) rows -> Totals per provider, by provider name."""
    providers: dict[str, list[Any]] = {}
    for provider, currency, count, total in rows:
        providers.setdefault(provider, []).append((currency, count, total))
    return {name: _totals(figures) for name, figures in sorted(providers.items())}


def _from_tally(since: datetime, until: datetime, tally: Tally) -> PeriodStats:
    rows: list[tuple[str, str, int, int]] = []
    revenue: dict[str, list[int]] = {}
    for label, count, amount in tally.by_label(PROVIDER):
        provider, currency = label.rsplit("/", 1)
        rows.append((provider, currency, count, amount))
        taken = revenue.setdefault(currency, [0, 0])
        taken[0] += count
        taken[1] += amount
    return PeriodStats(
        since=since,
        until=until,
        created=tally.count(CREATED),
        paid=tally.count(PAID),
        revenue=_totals([(currency, *taken) for currency, taken in revenue.items()]).amounts,
        paid_by_friends=tally.count(BY_FRIENDS),
        split_requests=tally.count(SPLIT_REQUESTS),
        contributions=tally.count(CONTRIBUTIONS),
        median_time_to_pay=tally.median_time_to_pay(),
        refunded=_totals(tally.by_label(REFUNDED)),
        owed=_totals(tally.by_label(OWED)),
        providers=_by_provider(rows),
    )


def _median(middle: Sequence[Any]) -> timedelta | None:
    """The median time to pay from the middle row or two (storage.queries.live_stats.middle_seconds_to_pay)."""
    if not middle:  # the orders moved out of the period between the count and now
        return None
    return timedelta(seconds=float(sum(Decimal(str(value)) for value in middle) / len(middle)))


class StatsReport:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def stats(self, since: datetime, until: datetime | None = None) -> PeriodStats:
        """The period's figures: rolled-up slices, hours and days (services.stats_rollup) where the rollup has
        been, counted live for the rest (the partial first slice, the last few minutes not rolled yet).

        The same figures as live_stats, except the median time to pay, which is within a histogram bucket
        (2%) once rolled periods are in. When most of the window is not rolled yet (a fresh start, catching up
        on a backlog) it is counted live, as live_stats does.
        """
        until = until or utcnow()
        async with self.db.transaction() as session:
            cover = await coverage(session, since, until)
            if cover.rolled and cover.live_time <= MOST_LIVE:
                tally = await rolled_tally(session, cover)
                for start, end in cover.live:
                    tally.merge(await count_settled(session, start, end))
                for start, end in cover.live_refunds:
                    tally.merge(await count_refunds(session, start, end))
                return _from_tally(since, until, tally)
        return await self.live_stats(since, until)

    async def live_stats(self, since: datetime, until: datetime | None = None) -> PeriodStats:
        """The period's figures computed from the base tables alone, with the exact median."""
        until = until or utcnow()
        async with self.db.transaction() as session:
            created = await live.orders_created(session, since=since, until=until)
            paid = await live.orders_paid(session, since=since, until=until)
            revenue = _totals(await live.credited_by_currency(session, since=since, until=until)).amounts
            providers = _by_provider(await live.credited_by_provider(session, since=since, until=until))
            paid_by_friends = await live.paid_by_friends(session, since=since, until=until)
            split_requests = await live.split_requests_opened(session, since=since, until=until)
            contributions = await live.contributions_credited(session, since=since, until=until)
            refunds = await live.refunds_by_status(session, statuses=("done", "owed"), since=since, until=until)
            refunded = _totals([row[1:] for row in refunds if row[0] == "done"])
            owed = _totals([row[1:] for row in refunds if row[0] == "owed"])
            # The median of paid_at - created_at, computed by the database: PostgreSQL has percentile_cont but
            # SQLite has no median at all, so both read the middle row or two of the sorted durations.
            median: timedelta | None = None
            if paid:
                median = _median(await live.middle_seconds_to_pay(session, since=since, until=until, paid=paid))
        return PeriodStats(
            since=since,
            until=until,
            created=created,
            paid=paid,
            revenue=revenue,
            paid_by_friends=paid_by_friends,
            split_requests=split_requests,
            contributions=contributions,
            median_time_to_pay=median,
            refunded=refunded,
            owed=owed,
            providers=providers,
        )
