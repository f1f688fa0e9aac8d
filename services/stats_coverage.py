"""Reading the rollup for /stats: which rolled days, hours and slices cover a window, and their figures.

A window is read as whole days where they are rolled, whole hours around them, 10-minute slices around those,
and counted live for the rest: its first partial slice and the last slices not rolled yet. Refunds are read
hour by hour over the whole window (they are kept per hour only), and counted live for the rest: the partial
hours at its ends and the hours whose refunds were still pending when counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.period_tally import REFUND_METRICS, SETTLED_METRICS, TIME_TO_PAY, Tally
from services.stats_rollup import DAY, HOUR, SLICE, Span, floor_to, minutes
from storage.queries.stats_rollups import figure_sums, rolled_starts_between, rolled_with_pending


@dataclass(frozen=True, slots=True)
class Coverage:
    """How a window of /stats is read: which rolled periods, and which stretches counted live."""

    days: list[Span] = field(default_factory=list)  # runs of rolled days: every figure but refunds
    hours: list[Span] = field(default_factory=list)  # runs of rolled hours outside those days: the same
    slices: list[Span] = field(default_factory=list)  # runs of rolled slices outside those hours: the same
    refunds: list[Span] = field(default_factory=list)  # runs of rolled hours with no refund pending: refunds
    live: list[Span] = field(default_factory=list)  # stretches not rolled: every figure but refunds live
    live_refunds: list[Span] = field(default_factory=list)  # the rest of the window: refunds counted live

    @property
    def rolled(self) -> bool:
        return bool(self.days or self.hours or self.slices)

    @property
    def live_time(self) -> timedelta:
        return sum((end - start for start, end in self.live), timedelta())


async def coverage(session: AsyncSession, since: datetime, until: datetime) -> Coverage:
    # Periods are UTC slices, hours and days: a window given in another zone must be cut the same way.
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    first, end = floor_to(since + SLICE - timedelta(microseconds=1), SLICE), floor_to(until, SLICE)
    if first >= end:
        return Coverage(live=[(since, until)], live_refunds=[(since, until)])
    big = await rolled_with_pending(session, minutes=[minutes(HOUR), minutes(DAY)], start=first, end=end)
    days = sorted(start for size, start, _pending in big if size == minutes(DAY) and start + DAY <= end)
    in_days = set(days)
    rolled_hours = sorted(
        (start, pending) for size, start, pending in big if size == minutes(HOUR) and start + HOUR <= end
    )
    hours = [start for start, _pending in rolled_hours if floor_to(start, DAY) not in in_days]
    refunds = _runs([start for start, pending in rolled_hours if not pending], HOUR)
    larger = sorted([*_runs(days, DAY), *_runs(hours, HOUR)])
    slices: list[datetime] = []
    for gap_start, gap_end in _complement(first, end, larger):
        slices += await rolled_starts_between(session, minutes=minutes(SLICE), start=gap_start, end=gap_end)
    covered = _merge([*larger, *_runs(sorted(slices), SLICE)])
    return Coverage(
        days=_runs(days, DAY),
        hours=_runs(hours, HOUR),
        slices=_runs(sorted(slices), SLICE),
        refunds=refunds,
        live=_complement(since, until, covered),
        live_refunds=_complement(since, until, refunds),
    )


async def rolled_tally(session: AsyncSession, cover: Coverage) -> Tally:
    tally = Tally()
    reads = [
        *((DAY, span, SETTLED_METRICS) for span in cover.days),
        *((HOUR, span, SETTLED_METRICS) for span in cover.hours),
        *((SLICE, span, SETTLED_METRICS) for span in cover.slices),
        *((HOUR, span, REFUND_METRICS) for span in cover.refunds),
    ]
    for length, span, metrics in reads:
        start, end = span
        sums = await figure_sums(session, metrics=metrics, minutes=minutes(length), start=start, end=end)
        for name, label, count, amount in sums:
            if name == TIME_TO_PAY:
                tally.histogram[int(label)] += int(count)
            else:
                tally.add(name, label, count, amount)
    return tally


def _runs(starts: Sequence[datetime], length: timedelta) -> list[Span]:
    """Sorted period starts -> [start, end) spans of consecutive ones."""
    return _merge([(start, start + length) for start in starts])


def _merge(spans: Sequence[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and merged[-1][1] >= start:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _complement(since: datetime, until: datetime, covered: Sequence[Span]) -> list[Span]:
    """The parts of [since, until) outside the covered spans (sorted, each wholly inside the window)."""
    spans: list[Span] = []
    cursor = since
    for start, end in _merge(covered):
        if start > cursor:
            spans.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < until:
        spans.append((cursor, until))
    return spans
