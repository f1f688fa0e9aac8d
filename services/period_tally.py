"""The /stats figures of one stretch of time, counted from the orders, payments, requests and refunds tables.

A Tally is what both the hourly rollup (services.stats_rollup) stores and /stats adds up: counts and sums by
(metric, label), plus the times from link to payment, exact (counted live) or as a histogram (rolled up).
Tallies of adjacent stretches add up to the tally of the whole, which is what lets /stats sum rolled hours
and count only the edges live.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, extract, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Order, Payment, PayRequest, Refund, RequestMode

CREATED, PAID, BY_FRIENDS = "created", "paid", "by_friends"
SPLIT_REQUESTS, CONTRIBUTIONS = "split_requests", "contributions"
PROVIDER = "provider"  # label: "provider/currency"; revenue is their sum by currency
REFUNDED, OWED = "refunded", "owed"  # labels: a currency
REFUND_METRICS = (REFUNDED, OWED)
TIME_TO_PAY = "time_to_pay"  # labels: a histogram bucket
# What never changes once an hour has passed (see services.stats_rollup), so whole days can hold it.
SETTLED_METRICS = (CREATED, PAID, PROVIDER, BY_FRIENDS, SPLIT_REQUESTS, CONTRIBUTIONS, TIME_TO_PAY)
REFUND_STATUS = {"done": REFUNDED, "owed": OWED}

# Times to pay are kept as a log-scale histogram: bucket k holds [RATIO**k, RATIO**(k+1)) seconds, and is read
# back as its geometric middle, within sqrt(RATIO) - 1 = 2% of any time in it. /stats shows the median
# rounded by babel's format_timedelta ("3 minutes"), far coarser than that.
RATIO = 1.04
SHORTEST = 0.001  # seconds; a payment recorded in the same instant as its link lands in the lowest bucket

Key = tuple[str, str]


def bucket_of(seconds: float) -> int:
    return math.floor(math.log(max(seconds, SHORTEST)) / math.log(RATIO))


def seconds_of(bucket: int) -> float:
    return float(RATIO ** (bucket + 0.5))


@dataclass
class Tally:
    counts: Counter[Key] = field(default_factory=Counter)
    amounts: Counter[Key] = field(default_factory=Counter)
    histogram: Counter[int] = field(default_factory=Counter)  # rolled-up times to pay
    durations: list[float] = field(default_factory=list)  # times to pay counted live, in seconds
    pending_refunds: int = 0  # refunds still waiting for their provider: they may become done or owed

    def add(self, metric: str, label: str, count: int, amount: int = 0) -> None:
        self.counts[metric, label] += int(count)
        self.amounts[metric, label] += int(amount or 0)

    def merge(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.amounts.update(other.amounts)
        self.histogram.update(other.histogram)
        self.durations.extend(other.durations)
        self.pending_refunds += other.pending_refunds

    def count(self, metric: str) -> int:
        return sum(n for (name, _label), n in self.counts.items() if name == metric)

    def by_label(self, metric: str) -> list[tuple[str, int, int]]:
        """(label, count, amount) of the metric, by label; labels counted zero times are left out."""
        return sorted(
            (label, n, self.amounts[name, label]) for (name, label), n in self.counts.items() if name == metric and n
        )

    def rows(self) -> list[tuple[str, str, int, int]]:
        """(metric, label, count, amount) to store, the times to pay folded into histogram buckets."""
        found = [(metric, label, n, self.amounts[metric, label]) for (metric, label), n in self.counts.items() if n]
        buckets = self.histogram + Counter(bucket_of(seconds) for seconds in self.durations)
        return found + [(TIME_TO_PAY, str(bucket), n, 0) for bucket, n in buckets.items() if n]

    def median_time_to_pay(self) -> timedelta | None:
        """Exact when every time is known exactly; within a histogram bucket once rolled hours are in."""
        if not self.histogram:
            return timedelta(seconds=statistics.median(self.durations)) if self.durations else None
        buckets = self.histogram + Counter(bucket_of(seconds) for seconds in self.durations)
        total = sum(buckets.values())
        middle = [(total - 1) // 2, total // 2]  # the same index twice for an odd count
        found: list[float] = []
        seen = 0
        for bucket in sorted(buckets):
            seen += buckets[bucket]
            while middle and middle[0] < seen:
                middle.pop(0)
                found.append(seconds_of(bucket))
        return timedelta(seconds=sum(found) / len(found))


def seconds_to_pay(session: AsyncSession) -> ColumnElement[Any]:
    """paid_at - created_at in seconds, computed by the database: cheaper than reading two timestamps."""
    assert session.bind is not None
    if session.bind.dialect.name == "sqlite":
        # SQLite keeps these as ISO text; julianday() reads them as fractional days.
        return (func.julianday(col(Order.paid_at)) - func.julianday(col(Order.created_at))) * 86400.0
    return extract("epoch", col(Order.paid_at) - col(Order.created_at))


def _within(column: Any, since: datetime, until: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return col(column) >= since, col(column) < until


async def count_settled(session: AsyncSession, since: datetime, until: datetime) -> Tally:
    """Everything /stats reports about [since, until) but refunds (count_refunds), from the base tables.

    Each figure is found through an index leading with its timestamp (orders.created_at, orders.paid_at,
    pay_requests.created_at, payments.settled_at, refunds.created_at), so a short stretch costs little
    whatever the size of the tables. The times to pay come back one per paid order: keep stretches short.
    """
    tally = Tally()
    paid_within = _within(Order.paid_at, since, until)

    def credited(*columns: Any) -> Any:
        # The charges credited to the orders paid in the stretch (split orders have several).
        return (
            select(*columns)
            .select_from(Payment)
            .join(Order, col(Order.id) == col(Payment.order_id))
            .where(*paid_within, col(Payment.credited).is_(True))
        )

    created = select(func.count()).select_from(Order).where(*_within(Order.created_at, since, until))
    tally.add(CREATED, "", (await session.exec(created)).one())
    paid = (await session.exec(select(seconds_to_pay(session)).where(*paid_within))).all()
    tally.add(PAID, "", len(paid))
    tally.durations = [float(seconds) for seconds in paid]
    charges = credited(
        col(Payment.provider), col(Payment.currency), func.count(col(Payment.id)), func.sum(col(Payment.amount_minor))
    ).group_by(col(Payment.provider), col(Payment.currency))
    for provider, currency, count, total in (await session.exec(charges)).all():
        tally.add(PROVIDER, f"{provider}/{currency}", count, total)
    # Paid by friends: a credited charge came through a request from someone other than the person who asked
    # (payer_id is empty for a friend paying on the request's web page).
    by_friends = (
        credited(func.count(func.distinct(col(Order.id))))
        .join(PayRequest, col(PayRequest.id) == col(Payment.request_id))
        .where(or_(col(Payment.payer_id).is_(None), col(Payment.payer_id) != col(PayRequest.requester_id)))
    )
    tally.add(BY_FRIENDS, "", (await session.exec(by_friends)).one())
    split = col(PayRequest.mode) == RequestMode.SPLIT
    requests = select(func.count()).select_from(PayRequest).where(split, *_within(PayRequest.created_at, since, until))
    tally.add(SPLIT_REQUESTS, "", (await session.exec(requests)).one())
    contributions = (
        select(func.count(col(Payment.id)))
        .join(PayRequest, col(PayRequest.id) == col(Payment.request_id))
        .where(split, col(Payment.credited).is_(True), *_within(Payment.settled_at, since, until))
    )
    tally.add(CONTRIBUTIONS, "", (await session.exec(contributions)).one())
    return tally


async def count_refunds(session: AsyncSession, since: datetime, until: datetime) -> Tally:
    """Refunds done and owed in [since, until), and how many are still pending, in one statement: one snapshot,
    so a refund finishing meanwhile is either pending or done here, never neither."""
    tally = Tally()
    statement = (
        select(col(Refund.status), col(Refund.currency), func.count(col(Refund.id)), func.sum(col(Refund.amount_minor)))
        .where(col(Refund.status).in_(["done", "owed", "pending"]), *_within(Refund.created_at, since, until))
        .group_by(col(Refund.status), col(Refund.currency))
    )
    for status, currency, count, total in (await session.exec(statement)).all():
        if status == "pending":
            tally.pending_refunds += int(count)
        else:
            tally.add(REFUND_STATUS[status], currency, count, total)
    return tally
