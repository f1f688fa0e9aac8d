"""/stats read from the hourly rollup says what counting the base tables live says (both databases)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.period_tally import RATIO
from services.stats_coverage import coverage
from services.stats_report import Period, PeriodStats, StatsReport, period_start
from services.stats_rollup import HOUR, SETTLE, SLICE, StatsRollup, floor_to
from storage.database import Database
from storage.models import Order, Payment, PayRequest, Refund, Shop, utcnow

ADMIN = 1
PROVIDERS = (("telegram", "USD"), ("stars", "XTR"), ("sandbox", "USD"), ("sandbox", "EUR"))
BEIJING = timezone(timedelta(hours=8))
NEAR = RATIO**0.5 - 1 + 1e-9  # the most a median read from the histogram may be off, relative


class Shopping:
    """Orders, payments, requests and refunds written straight into the tables, back-dated over days."""

    def __init__(self, db: Database, now: datetime, seed: int) -> None:
        self.db, self.now, self.rng = db, now, random.Random(seed)
        self.next_id = 0

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _at(self, moment: datetime) -> datetime:
        return min(moment, self.now - timedelta(seconds=1))

    async def fill(self, orders: int, hours: int) -> None:
        async with self.db.transaction() as session:
            shop = Shop(name="Bench")
            session.add(shop)
            await session.flush()
            assert shop.id is not None
            for number in range(orders):
                created = self.now - timedelta(seconds=self.rng.uniform(0, hours * 3600))
                if number % 25 == 0:  # on an hour's first instant: counted in that hour, not the one before
                    created = floor_to(created, HOUR)
                await self._order(session, shop.id, number, created)

    async def _order(self, session: AsyncSession, shop_id: int, number: int, created: datetime) -> None:
        rng = self.rng
        provider, currency = rng.choice(PROVIDERS)
        amount = rng.randrange(100, 5000)
        paid_at = self._at(created + timedelta(seconds=rng.expovariate(1 / 900)))
        if number % 40 == 1:
            paid_at = self._at(floor_to(paid_at, HOUR) + HOUR)  # paid on an hour's first instant
        fate = rng.random()
        order = Order(
            token=f"t{number}",
            shop_id=shop_id,
            title="Tea",
            amount_minor=amount,
            currency=currency,
            status="paid" if fate < 0.6 else "expired",
            created_by=ADMIN,
            created_at=created,
            expires_at=created + timedelta(days=1),
            paid_at=paid_at if fate < 0.6 else None,
        )
        session.add(order)
        await session.flush()
        assert order.id is not None
        shopper = 1000 + rng.randrange(50)
        if fate >= 0.6:
            if rng.random() < 0.2:  # a split request that was never covered, one chip-in credited
                request = await self._request(session, order.id, shopper, "split", created)
                charge = self._payment(order.id, provider, currency, amount // 3, created, 2000, request)
                session.add(charge)
            return
        how = rng.random()
        if how < 0.15:  # friends chip in, the last one paying the order
            request = await self._request(session, order.id, shopper, "split", created)
            parts = rng.randrange(2, 4)
            for part in range(parts):
                settled = created + (paid_at - created) * (part + 1) / parts  # the last one pays the order
                payer = None if part == 0 else 2000 + part  # a web payer has no Telegram id
                session.add(self._payment(order.id, provider, currency, amount // parts, settled, payer, request))
            return
        request = None
        payer = shopper
        if how < 0.45:  # through a request: usually a friend, sometimes the shopper themself
            request = await self._request(session, order.id, shopper, "single", created)
            payer = shopper if how < 0.2 else rng.choice([None, 3000 + rng.randrange(9)])
        charge = self._payment(order.id, provider, currency, amount, paid_at, payer, request)
        session.add(charge)
        if rng.random() < 0.1:  # money that came too late: recorded, not credited
            late = self._payment(order.id, provider, currency, amount, self._at(paid_at + HOUR), 4000, None)
            late.credited = False
            session.add(late)
        if rng.random() < 0.08:
            session.add(self._declined(order.id, provider, currency, amount, created))
        await session.flush()
        if rng.random() < 0.25:
            assert charge.id is not None
            status = rng.choice(["done", "done", "owed", "pending", "failed"])
            refunded = self._at(paid_at + timedelta(seconds=rng.uniform(0, 20 * 3600)))
            part = amount if rng.random() < 0.7 else amount // 2
            session.add(self._refund(charge.id, part, currency, status, refunded))

    async def _request(self, session: AsyncSession, order_id: int, requester: int, mode: str, created: datetime) -> int:
        request = PayRequest(
            token=f"r_{self._id()}",
            order_id=order_id,
            requester_id=requester,
            mode=mode,
            status="open",
            created_at=self._at(created + timedelta(seconds=30)),
            expires_at=created + timedelta(days=1),
        )
        session.add(request)
        await session.flush()
        assert request.id is not None
        return request.id

    def _payment(
        self,
        order_id: int,
        provider: str,
        currency: str,
        amount: int,
        settled: datetime,
        payer: int | None,
        request_id: int | None,
    ) -> Payment:
        number = self._id()
        return Payment(
            order_id=order_id,
            provider=provider,
            checkout_ref=f"co_{number}",
            provider_ref=f"ch_{number}",
            amount_minor=amount,
            currency=currency,
            status="succeeded",
            credited=True,
            payer_id=payer,
            request_id=request_id,
            created_at=settled - timedelta(seconds=5),
            settled_at=settled,
        )

    def _declined(self, order_id: int, provider: str, currency: str, amount: int, created: datetime) -> Payment:
        number = self._id()
        return Payment(
            order_id=order_id,
            provider=provider,
            checkout_ref=f"co_{number}",
            amount_minor=amount,
            currency=currency,
            status="declined",
            created_at=created,
        )

    @staticmethod
    def _refund(payment_id: int, amount: int, currency: str, status: str, created: datetime) -> Refund:
        return Refund(
            payment_id=payment_id,
            amount_minor=amount,
            currency=currency,
            status=status,
            reason="shop_refund",
            actor_id=ADMIN,
            created_at=created,
        )


def assert_same(rolled: PeriodStats, live: PeriodStats) -> None:
    """Every figure equal; the median within the histogram's bucket."""
    assert replace(rolled, median_time_to_pay=None) == replace(live, median_time_to_pay=None)
    if live.median_time_to_pay is None:
        assert rolled.median_time_to_pay is None
        return
    assert rolled.median_time_to_pay is not None
    exact = live.median_time_to_pay.total_seconds()
    assert abs(rolled.median_time_to_pay.total_seconds() - exact) <= NEAR * exact + 1e-3


def windows(now: datetime) -> list[tuple[datetime, datetime]]:
    return [
        (period_start(Period.TODAY, now), now),
        (period_start(Period.WEEK, now), now),
        (period_start(Period.MONTH, now), now),
        (now - timedelta(hours=50, minutes=17), now - timedelta(hours=3, seconds=13)),
        (floor_to(now, HOUR) - timedelta(hours=30), floor_to(now, HOUR) - timedelta(hours=6)),  # whole hours only
        (now - timedelta(hours=2), now),  # nothing rolled in it: counted live, exactly
        (now.astimezone(BEIJING) - timedelta(days=3), now.astimezone(BEIJING)),  # cut in UTC hours all the same
    ]


async def live_time(db: Database, since: datetime, until: datetime) -> timedelta:
    async with db.transaction() as session:
        return (await coverage(session, since, until)).live_time


@pytest.fixture
def reports(db: Database) -> StatsReport:
    return StatsReport(db)


async def test_stats_from_the_rollup_equal_the_live_count_over_days_of_orders(
    db: Database, reports: StatsReport
) -> None:
    now = utcnow()
    await Shopping(db, now, seed=6).fill(orders=300, hours=56)
    assert (await reports.stats(now - timedelta(days=7), now)).paid > 150

    while (await StatsRollup(db).run(now=now, batch=100)).left:
        pass

    for since, until in windows(now):
        live = await reports.live_stats(since, until)
        assert_same(await reports.stats(since, until), live)
    # The week is read from the rollup, but for its first partial slice and the last few not rolled yet.
    assert await live_time(db, now - timedelta(days=7), now) < SLICE + SETTLE + SLICE


async def test_a_refund_finishing_after_its_hour_was_rolled_is_counted(db: Database, reports: StatsReport) -> None:
    now = utcnow()
    await Shopping(db, now, seed=7).fill(orders=60, hours=8)
    async with db.transaction() as session:
        charge = (
            await session.exec(
                select(Payment).where(
                    col(Payment.credited).is_(True), col(Payment.settled_at) < now - timedelta(hours=2)
                )
            )
        ).first()
        assert charge is not None and charge.id is not None and charge.settled_at is not None
        slow = Refund(
            payment_id=charge.id,
            amount_minor=77,
            currency=charge.currency,
            status="pending",  # the provider is still being asked
            reason="shop_refund",
            created_at=charge.settled_at + timedelta(minutes=1),
        )
        session.add(slow)
    await StatsRollup(db).run(now=now)
    since = now - timedelta(days=1)
    before = await reports.stats(since, now)
    assert_same(before, await reports.live_stats(since, now))

    async with db.transaction() as session:  # what settlement does once the provider has answered
        await session.exec(update(Refund).where(col(Refund.id) == slow.id).values(status="done"))

    after = await reports.stats(since, now)
    assert after.refunded.count == before.refunded.count + 1
    assert_same(after, await reports.live_stats(since, now))
    await StatsRollup(db).run(now=now)  # counted again, from the rollup now
    assert_same(await reports.stats(since, now), await reports.live_stats(since, now))


async def test_two_workers_rolling_at_once_count_each_slice_once(database_url: str, db: Database) -> None:
    now = utcnow()
    await Shopping(db, now, seed=8).fill(orders=100, hours=16)
    other = Database(database_url)
    try:
        first, second = await asyncio.gather(
            StatsRollup(db).run(now=now, batch=1000), StatsRollup(other).run(now=now, batch=1000)
        )
    finally:
        await other.dispose()

    assert first.left == second.left == 0
    async with db.transaction() as session:
        oldest = (await session.exec(select(func.min(Order.created_at)))).one()
    assert oldest is not None
    # Every complete slice since the first order's, by one worker or the other.
    assert first.rolled + second.rolled == (floor_to(now - SETTLE, SLICE) - floor_to(oldest, SLICE)) // SLICE
    reports = StatsReport(db)
    for since, until in windows(now):
        assert_same(await reports.stats(since, until), await reports.live_stats(since, until))


async def test_stats_are_counted_live_until_the_rollup_has_run(db: Database, reports: StatsReport) -> None:
    now = utcnow()
    await Shopping(db, now, seed=9).fill(orders=80, hours=30)
    since = now - timedelta(days=7)
    assert await reports.stats(since, now) == await reports.live_stats(since, now)  # exact median, too
