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

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

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
    seconds_to_pay,
)
from services.stats_coverage import coverage, rolled_tally
from storage.database import Database
from storage.models import Order, Payment, PayRequest, Refund, RequestMode, utcnow

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


def _in_period(column: Any, since: datetime, until: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return col(column) >= since, col(column) < until


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


async def _count(session: AsyncSession, table: Any, *where: ColumnElement[bool]) -> int:
    return int((await session.exec(select(func.count()).select_from(table).where(*where))).one())


@dataclass(frozen=True, slots=True)
class _LiveCount:
    """One period counted from the base tables, a figure per method, in one session.

    Each range goes through an index leading with its timestamp (ix_orders_created_at_id, ix_orders_paid_at,
    ix_pay_requests_created_at, ix_payments_settled_at, ix_refunds_created_at).
    """

    session: AsyncSession
    since: datetime
    until: datetime

    @property
    def paid_in_period(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return _in_period(Order.paid_at, self.since, self.until)  # ix_orders_paid_at

    def credited(self, *columns: Any) -> Any:
        """Of the charges credited to the orders paid in the period: found through the paid_at index, then
        payments.order_id (indexed); split orders have several."""
        return (
            select(*columns)
            .select_from(Payment)
            .join(Order, col(Order.id) == col(Payment.order_id))
            .where(*self.paid_in_period, col(Payment.credited).is_(True))
        )

    async def created(self) -> int:
        return await _count(self.session, Order, *_in_period(Order.created_at, self.since, self.until))

    async def paid(self) -> int:
        return await _count(self.session, Order, *self.paid_in_period)

    async def revenue(self) -> tuple[Money, ...]:
        amount = func.sum(col(Payment.amount_minor))
        rows = await self.session.exec(
            self.credited(col(Payment.currency), func.count(col(Payment.id)), amount).group_by(col(Payment.currency))
        )
        return _totals([tuple(row) for row in rows.all()]).amounts

    async def providers(self) -> dict[str, Totals]:
        provider, currency = col(Payment.provider), col(Payment.currency)
        figures = func.count(col(Payment.id)), func.sum(col(Payment.amount_minor))
        rows = await self.session.exec(self.credited(provider, currency, *figures).group_by(provider, currency))
        return _by_provider(rows.all())

    async def paid_by_friends(self) -> int:
        # A credited charge came through a request from someone other than the person who asked (payer_id is
        # empty for a friend paying on the request's web page).
        not_the_asker = or_(col(Payment.payer_id).is_(None), col(Payment.payer_id) != col(PayRequest.requester_id))
        statement = (
            self.credited(func.count(func.distinct(col(Order.id))))
            .join(PayRequest, col(PayRequest.id) == col(Payment.request_id))
            .where(not_the_asker)
        )
        return int((await self.session.exec(statement)).one())

    async def split_requests(self) -> int:
        opened = _in_period(PayRequest.created_at, self.since, self.until)
        return await _count(self.session, PayRequest, col(PayRequest.mode) == RequestMode.SPLIT, *opened)

    async def contributions(self) -> int:
        statement = (
            select(func.count(col(Payment.id)))
            .join(PayRequest, col(PayRequest.id) == col(Payment.request_id))
            .where(
                col(PayRequest.mode) == RequestMode.SPLIT,
                col(Payment.credited).is_(True),
                *_in_period(Payment.settled_at, self.since, self.until),
            )
        )
        return int((await self.session.exec(statement)).one())

    async def refunds(self) -> tuple[Totals, Totals]:
        """The refunds made, and those recorded as owed."""
        statement = (
            select(
                col(Refund.status), col(Refund.currency), func.count(col(Refund.id)), func.sum(col(Refund.amount_minor))
            )
            .where(col(Refund.status).in_(["done", "owed"]), *_in_period(Refund.created_at, self.since, self.until))
            .group_by(col(Refund.status), col(Refund.currency))
        )
        rows = (await self.session.exec(statement)).all()
        done = _totals([row[1:] for row in rows if row[0] == "done"])
        return done, _totals([row[1:] for row in rows if row[0] == "owed"])

    async def median_time_to_pay(self, paid: int) -> timedelta | None:
        """The median of paid_at - created_at over the period's paid orders, computed by the database.

        Portable on purpose: PostgreSQL has percentile_cont but SQLite has no median at all, so both sort the
        period's paid orders by the duration and read only the middle row (two rows, averaged, for an even
        count) with LIMIT/OFFSET. The database finds those orders through ix_orders_paid_at and sorts only
        them; Python receives at most two numbers. Only the duration in seconds is written per dialect.
        """
        if paid == 0:
            return None
        seconds = seconds_to_pay(self.session)
        middle = (
            await self.session.exec(
                select(seconds)
                .where(*self.paid_in_period)
                .order_by(seconds)
                .offset((paid - 1) // 2)
                .limit(1 if paid % 2 else 2)
            )
        ).all()
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
            live = _LiveCount(session, since, until)
            created = await live.created()
            paid = await live.paid()
            revenue = await live.revenue()
            providers = await live.providers()
            paid_by_friends = await live.paid_by_friends()
            split_requests = await live.split_requests()
            contributions = await live.contributions()
            refunded, owed = await live.refunds()
            median = await live.median_time_to_pay(paid)
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
