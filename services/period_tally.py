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

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.queries import live_stats as live

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


async def count_settled(session: AsyncSession, since: datetime, until: datetime) -> Tally:
    """Everything /stats reports about [since, until) but refunds (count_refunds), from the base tables.

    Each figure is found through an index leading with its timestamp (orders.created_at, orders.paid_at,
    pay_requests.created_at, payments.settled_at, refunds.created_at), so a short stretch costs little
    whatever the size of the tables. The times to pay come back one per paid order: keep stretches short.
    """
    tally = Tally()
    stretch = {"since": since, "until": until}
    tally.add(CREATED, "", await live.orders_created(session, **stretch))
    tally.durations = await live.seconds_to_pay(session, **stretch)
    tally.add(PAID, "", len(tally.durations))
    for provider, currency, count, total in await live.credited_by_provider(session, **stretch):
        tally.add(PROVIDER, f"{provider}/{currency}", count, total)
    tally.add(BY_FRIENDS, "", await live.paid_by_friends(session, **stretch))
    tally.add(SPLIT_REQUESTS, "", await live.split_requests_opened(session, **stretch))
    tally.add(CONTRIBUTIONS, "", await live.contributions_credited(session, **stretch))
    return tally


async def count_refunds(session: AsyncSession, since: datetime, until: datetime) -> Tally:
    """Refunds done and owed in [since, until), and how many are still pending, in one statement: one snapshot,
    so a refund finishing meanwhile is either pending or done here, never neither."""
    tally = Tally()
    statuses = ("done", "owed", "pending")
    for status, currency, count, total in await live.refunds_by_status(
        session, statuses=statuses, since=since, until=until
    ):
        if status == "pending":
            tally.pending_refunds += int(count)
        else:
            tally.add(REFUND_STATUS[status], currency, count, total)
    return tally
