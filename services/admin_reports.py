"""What the admin commands read: a period's figures, one order's whole story, filtered lists, the CSV export,
the callback outbox, and which charges of an order a refund would give back.

Figures are aggregated by the database (COUNT, SUM, GROUP BY) over ranges of timestamp columns, and lists are
read a page or a chunk at a time: nothing here loads a whole table into memory.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TextIO, TypeVar

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import asc, col, desc, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.money import Money, major_units
from services.pay_requests import is_request_token
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
from services.tokens import looks_like_token
from storage.database import Database
from storage.models import (
    CallbackDelivery,
    Order,
    OrderEvent,
    OrderStatus,
    OrphanCharge,
    Payment,
    PaymentStatus,
    PayRequest,
    Refund,
    RequestMode,
    Shop,
    User,
    utcnow,
)

T = TypeVar("T")
PAGE_SIZE = 10
EXPORT_CHUNK = 500  # orders read per query while exporting
MAX_ORDER_ID = 2**63 - 1  # a longer run of digits is a token, not an id
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


@dataclass(frozen=True, slots=True)
class OrderDossier:
    """Everything known about one order, for /order."""

    order: Order
    shop_name: str
    payments: list[Payment]
    refunds: list[Refund]
    requests: list[PayRequest]
    callbacks: list[CallbackDelivery]
    events: list[OrderEvent]
    names: dict[int, str]  # first names of every person mentioned above


@dataclass(frozen=True, slots=True)
class OrderFilter:
    status: OrderStatus | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class OrderListPage:
    orders: list[Order]
    has_newer: bool
    has_older: bool


@dataclass(frozen=True, slots=True)
class OutboxState:
    pending: int  # callbacks not delivered yet
    failing: int  # of those, the ones a shop has already refused or not answered
    worst: list[CallbackDelivery]  # the failing ones with the most attempts


# The CSV export: one row per payment attempt of each order created in the range (an order without any
# attempt gets one row with the payment columns empty). Money is given three ways: minor units (exact),
# the currency code, and a plain decimal in major units ("12.50", "50" for Stars) for spreadsheets.
EXPORT_COLUMNS = (
    "order_id",  # daifu's number for the order (/order <id>)
    "order_token",  # the token of its checkout link
    "external_id",  # the shop's own id, for orders made through the API
    "shop",
    "title",
    "order_status",  # open, pending, paid, refunded, cancelled, expired
    "order_amount_minor",
    "order_currency",
    "order_amount",
    "created_at",  # ISO 8601, UTC
    "expires_at",
    "paid_at",
    "payment_id",
    "provider",  # sandbox, telegram, stars, ...
    "payment_status",  # pending, succeeded, declined, refunded, refund_owed
    "credited",  # "yes" when the charge counts towards the order; "no" when it had to go back
    "request_id",  # the pay-for-me request it came through; empty when the shopper paid directly
    "payer_id",  # Telegram user id; empty for someone paying on the web page
    "payer_name",  # the name a web payer gave
    "payment_amount_minor",
    "payment_currency",
    "payment_amount",
    "refunded_minor",  # given back so far, in the payment's currency
    "refunded_amount",
    "provider_ref",  # the provider's id for the charge
    "settled_at",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    """Text as a spreadsheet shows it, never as a formula: a payer's name is not trusted (CSV injection)."""
    if not text:
        return ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _decimal(minor: int, currency: str) -> str:
    return str(major_units(Money(minor, currency)))


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _in_period(column: Any, since: datetime, until: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return col(column) >= since, col(column) < until


def _from_tally(since: datetime, until: datetime, tally: Tally) -> PeriodStats:
    providers: dict[str, list[tuple[str, int, int]]] = {}
    revenue: dict[str, list[int]] = {}
    for label, count, amount in tally.by_label(PROVIDER):
        provider, currency = label.rsplit("/", 1)
        providers.setdefault(provider, []).append((currency, count, amount))
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
        providers={name: _totals(rows) for name, rows in sorted(providers.items())},
    )


def _totals(rows: Sequence[Any]) -> Totals:
    """(currency, count, sum) rows -> Totals. PostgreSQL sums BIGINT as NUMERIC, hence int()."""
    count = sum(int(row[1]) for row in rows)
    amounts = tuple(Money(int(row[2] or 0), row[0]) for row in sorted(rows, key=lambda row: row[0]))
    return Totals(count, amounts)


class AdminReports:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- /stats ----------------------------------------------------------------------------------------

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
        paid_in_period = _in_period(Order.paid_at, since, until)  # ix_orders_paid_at
        # The charges credited to the orders paid in the period: found through the paid_at index, then
        # payments.order_id (indexed); split orders have several.

        def credited(*columns: Any) -> Any:
            return (
                select(*columns)
                .select_from(Payment)
                .join(Order, col(Order.id) == col(Payment.order_id))
                .where(*paid_in_period, col(Payment.credited).is_(True))
            )

        async with self.db.transaction() as session:
            # Each range goes through an index leading with its timestamp (ix_orders_created_at_id,
            # ix_orders_paid_at, ix_pay_requests_created_at, ix_payments_settled_at, ix_refunds_created_at).
            created = await self._count(session, Order, *_in_period(Order.created_at, since, until))
            paid = await self._count(session, Order, *paid_in_period)
            revenue_rows = (
                await session.exec(
                    credited(
                        col(Payment.currency), func.count(col(Payment.id)), func.sum(col(Payment.amount_minor))
                    ).group_by(col(Payment.currency))
                )
            ).all()
            provider_rows = (
                await session.exec(
                    credited(
                        col(Payment.provider),
                        col(Payment.currency),
                        func.count(col(Payment.id)),
                        func.sum(col(Payment.amount_minor)),
                    ).group_by(col(Payment.provider), col(Payment.currency))
                )
            ).all()
            # Paid by friends: a credited charge came through a request from someone other than the person
            # who asked (payer_id is empty for a friend paying on the request's web page).
            by_friends = (
                await session.exec(
                    credited(func.count(func.distinct(col(Order.id))))
                    .join(PayRequest, col(PayRequest.id) == col(Payment.request_id))
                    .where(
                        or_(
                            col(Payment.payer_id).is_(None),
                            col(Payment.payer_id) != col(PayRequest.requester_id),
                        )
                    )
                )
            ).one()
            split_requests = await self._count(
                session,
                PayRequest,
                col(PayRequest.mode) == RequestMode.SPLIT,
                *_in_period(PayRequest.created_at, since, until),
            )
            contributions = (
                await session.exec(
                    select(func.count(col(Payment.id)))
                    .join(PayRequest, col(PayRequest.id) == col(Payment.request_id))
                    .where(
                        col(PayRequest.mode) == RequestMode.SPLIT,
                        col(Payment.credited).is_(True),
                        *_in_period(Payment.settled_at, since, until),
                    )
                )
            ).one()
            refund_rows = (
                await session.exec(
                    select(
                        col(Refund.status),
                        col(Refund.currency),
                        func.count(col(Refund.id)),
                        func.sum(col(Refund.amount_minor)),
                    )
                    .where(col(Refund.status).in_(["done", "owed"]), *_in_period(Refund.created_at, since, until))
                    .group_by(col(Refund.status), col(Refund.currency))
                )
            ).all()
            median = await self._median_time_to_pay(session, paid, paid_in_period)
        providers: dict[str, list[Any]] = {}
        for provider, currency, count, total in provider_rows:
            providers.setdefault(provider, []).append((currency, count, total))
        return PeriodStats(
            since=since,
            until=until,
            created=created,
            paid=paid,
            revenue=_totals([tuple(row) for row in revenue_rows]).amounts,
            paid_by_friends=int(by_friends),
            split_requests=split_requests,
            contributions=int(contributions),
            median_time_to_pay=median,
            refunded=_totals([row[1:] for row in refund_rows if row[0] == "done"]),
            owed=_totals([row[1:] for row in refund_rows if row[0] == "owed"]),
            providers={name: _totals(rows) for name, rows in sorted(providers.items())},
        )

    @staticmethod
    async def _count(session: AsyncSession, table: Any, *where: ColumnElement[bool]) -> int:
        return int((await session.exec(select(func.count()).select_from(table).where(*where))).one())

    async def _median_time_to_pay(
        self, session: AsyncSession, paid: int, paid_in_period: tuple[ColumnElement[bool], ...]
    ) -> timedelta | None:
        """The median of paid_at - created_at over the period's paid orders, computed by the database.

        Portable on purpose: PostgreSQL has percentile_cont but SQLite has no median at all, so both sort the
        period's paid orders by the duration and read only the middle row (two rows, averaged, for an even
        count) with LIMIT/OFFSET. The database finds those orders through ix_orders_paid_at and sorts only
        them; Python receives at most two numbers. Only the duration in seconds is written per dialect.
        """
        if paid == 0:
            return None
        seconds = seconds_to_pay(session)
        middle = (
            await session.exec(
                select(seconds)
                .where(*paid_in_period)
                .order_by(seconds)
                .offset((paid - 1) // 2)
                .limit(1 if paid % 2 else 2)
            )
        ).all()
        if not middle:  # the orders moved out of the period between the count and now
            return None
        return timedelta(seconds=float(sum(Decimal(str(value)) for value in middle) / len(middle)))

    # -- /order ----------------------------------------------------------------------------------------

    async def find_order(self, reference: str) -> Order | None:
        """The order an admin names: its number ("12" or "#12"), its token, or one of its requests' tokens."""
        reference = reference.strip().removeprefix("#")
        async with self.db.transaction() as session:
            if reference.isdigit() and int(reference) <= MAX_ORDER_ID:
                found = await session.get(Order, int(reference))
                if found is not None:
                    return found
            if is_request_token(reference):
                return (
                    await session.exec(
                        select(Order)
                        .join(PayRequest, col(PayRequest.order_id) == col(Order.id))
                        .where(PayRequest.token == reference)
                    )
                ).first()
            if looks_like_token(reference):
                return (await session.exec(select(Order).where(Order.token == reference))).first()
        return None

    async def orphan_charge(self, reference: str) -> OrphanCharge | None:
        """Money kept for a checkout daifu does not know, by the charge id the admins were told of (Telegram's
        or the provider's)."""
        if not reference or len(reference) > 255:
            return None
        named = or_(col(OrphanCharge.charge_ref) == reference, col(OrphanCharge.provider_charge_ref) == reference)
        async with self.db.transaction() as session:
            return (await session.exec(select(OrphanCharge).where(named).order_by(col(OrphanCharge.id)))).first()

    async def dossier(self, order: Order) -> OrderDossier:
        assert order.id is not None
        async with self.db.transaction() as session:

            async def of_order(statement: SelectOfScalar[T]) -> list[T]:
                return list((await session.exec(statement)).all())

            shop = await session.get(Shop, order.shop_id)
            payments = await of_order(
                select(Payment).where(col(Payment.order_id) == order.id).order_by(col(Payment.id))
            )
            refunds = await of_order(
                select(Refund)
                .join(Payment, col(Payment.id) == col(Refund.payment_id))
                .where(col(Payment.order_id) == order.id)
                .order_by(col(Refund.id))
            )
            requests = await of_order(
                select(PayRequest).where(col(PayRequest.order_id) == order.id).order_by(col(PayRequest.id))
            )
            callbacks = await of_order(
                select(CallbackDelivery)
                .where(col(CallbackDelivery.order_id) == order.id)
                .order_by(col(CallbackDelivery.id))
            )
            events = await of_order(
                select(OrderEvent).where(col(OrderEvent.order_id) == order.id).order_by(col(OrderEvent.id))
            )
            people = {order.created_by, order.payer_id}
            people |= {payment.payer_id for payment in payments}
            people |= {refund.actor_id for refund in refunds}
            people |= {request.requester_id for request in requests}
            people |= {event.actor_id for event in events}
            names = await self._names(session, {person for person in people if person is not None})
        shop_name = shop.name if shop else ""
        return OrderDossier(order, shop_name, payments, refunds, requests, callbacks, events, names)

    @staticmethod
    async def _names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        rows = (await session.exec(select(User.id, User.first_name).where(col(User.id).in_(ids)))).all()
        return {user_id: name for user_id, name in rows}

    # -- /orders ---------------------------------------------------------------------------------------

    async def list_orders(
        self, where: OrderFilter, *, older_than: int | None = None, newer_than: int | None = None
    ) -> OrderListPage:
        """A page of orders, newest first, after or before the order with the given id (keyset paging).

        Keyset on (created_at, id) rather than OFFSET: a page stays right while new orders arrive, and
        reading page 50 costs what reading page 1 does.
        """
        filters: list[ColumnElement[bool]] = []
        if where.status is not None:
            filters.append(col(Order.status) == where.status)
        if where.text:
            pattern = _like(where.text)
            filters.append(
                or_(
                    col(Order.title).ilike(pattern, escape="\\"),
                    col(Order.external_id).ilike(pattern, escape="\\"),
                    col(Order.token).ilike(pattern, escape="\\"),
                )
            )
        async with self.db.transaction() as session:
            anchor = await session.get(Order, newer_than or older_than) if (newer_than or older_than) else None
            if anchor is not None and newer_than is not None:
                rows = list(
                    (
                        await session.exec(
                            select(Order)
                            .where(*filters, _after(anchor))
                            .order_by(asc(col(Order.created_at)), asc(col(Order.id)))
                            .limit(PAGE_SIZE + 1)
                        )
                    ).all()
                )
                if len(rows) > PAGE_SIZE:
                    page = rows[:PAGE_SIZE][::-1]
                    return OrderListPage(page, True, await self._exists(session, filters, _before(page[-1])))
                anchor = None  # back at the top: show the newest page, full
            statement = select(Order).where(*filters)
            if anchor is not None:
                statement = statement.where(_before(anchor))
            rows = list(
                (
                    await session.exec(
                        statement.order_by(desc(col(Order.created_at)), desc(col(Order.id))).limit(PAGE_SIZE + 1)
                    )
                ).all()
            )
            page = rows[:PAGE_SIZE]
            has_newer = bool(page) and await self._exists(session, filters, _after(page[0]))
            return OrderListPage(page, has_newer, len(rows) > PAGE_SIZE)

    @staticmethod
    async def _exists(session: AsyncSession, filters: list[ColumnElement[bool]], edge: ColumnElement[bool]) -> bool:
        return (await session.exec(select(Order.id).where(*filters, edge).limit(1))).first() is not None

    # -- /export ---------------------------------------------------------------------------------------

    async def export_csv(self, since: datetime, until: datetime, out: TextIO) -> int:
        """Write the orders created in [since, until) and their payments as CSV; returns the rows written.

        Read EXPORT_CHUNK orders at a time by keyset on the primary key (each chunk in its own short
        transaction), with their payments in one query per chunk: memory holds one chunk, whatever the range.
        """
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        written, last_id = 0, 0
        while True:
            async with self.db.transaction() as session:
                orders = (
                    await session.exec(
                        select(Order, Shop.name)
                        .join(Shop, col(Shop.id) == col(Order.shop_id))
                        .where(col(Order.id) > last_id, *_in_period(Order.created_at, since, until))
                        .order_by(col(Order.id))
                        .limit(EXPORT_CHUNK)
                    )
                ).all()
                if not orders:
                    return written
                payments: dict[int, list[Payment]] = {}
                found = await session.exec(
                    select(Payment)
                    .where(col(Payment.order_id).in_([order.id for order, _shop in orders]))
                    .order_by(col(Payment.id))
                )
                for charge in found.all():
                    payments.setdefault(charge.order_id, []).append(charge)
            for order, shop_name in orders:
                assert order.id is not None
                charges: list[Payment | None] = [*payments.get(order.id, [])] or [None]
                for payment in charges:
                    writer.writerow(_export_row(order, shop_name, payment))
                    written += 1
                last_id = order.id

    # -- /providers ------------------------------------------------------------------------------------

    async def outbox(self, worst: int = 5) -> OutboxState:
        # Undelivered rows are found through ix_callback_deliveries_due (delivered_at, next_attempt_at).
        undelivered = col(CallbackDelivery.delivered_at).is_(None)
        failing = (undelivered, col(CallbackDelivery.attempts) > 0)
        async with self.db.transaction() as session:
            pending = await self._count(session, CallbackDelivery, undelivered)
            failing_count = await self._count(session, CallbackDelivery, *failing)
            rows = (
                await session.exec(
                    select(CallbackDelivery)
                    .where(*failing)
                    .order_by(desc(col(CallbackDelivery.attempts)), col(CallbackDelivery.id))
                    .limit(worst)
                )
            ).all()
        return OutboxState(pending, failing_count, list(rows))

    # -- /refund ---------------------------------------------------------------------------------------

    async def charges_to_refund(self, order: Order) -> list[Payment]:
        """The charges of the order that still hold money a refund can give back, oldest first.

        Charges credited to the order count only once it is paid: the chip-ins of an order still being
        paid go back when its request is cancelled or expires (/cancel), not piecemeal. Charges that were
        never credited (money that arrived too late, whose automatic refund failed) always count.
        """
        conditions: list[ColumnElement[bool]] = [
            col(Payment.order_id) == order.id,
            col(Payment.status) == PaymentStatus.SUCCEEDED,
            col(Payment.provider_ref).is_not(None),
            col(Payment.refunded_minor) < col(Payment.amount_minor),
        ]
        if order.status != OrderStatus.PAID:
            conditions.append(col(Payment.credited).is_(False))
        async with self.db.transaction() as session:
            return list((await session.exec(select(Payment).where(*conditions).order_by(col(Payment.id)))).all())

    async def names(self, ids: set[int]) -> dict[int, str]:
        async with self.db.transaction() as session:
            return await self._names(session, ids)


def _before(anchor: Order) -> ColumnElement[bool]:
    """Older than the anchor in the list's order (created_at, then id, both descending)."""
    return or_(
        col(Order.created_at) < anchor.created_at,
        and_(col(Order.created_at) == anchor.created_at, col(Order.id) < anchor.id),
    )


def _after(anchor: Order) -> ColumnElement[bool]:
    return or_(
        col(Order.created_at) > anchor.created_at,
        and_(col(Order.created_at) == anchor.created_at, col(Order.id) > anchor.id),
    )


def _export_row(order: Order, shop_name: str, payment: Payment | None) -> list[object]:
    row: list[object] = [
        order.id,
        order.token,
        _cell(order.external_id),
        _cell(shop_name),
        _cell(order.title),
        str(order.status),  # a plain string when read back (the column is a String)
        order.amount_minor,
        order.currency,
        _decimal(order.amount_minor, order.currency),
        _iso(order.created_at),
        _iso(order.expires_at),
        _iso(order.paid_at),
    ]
    if payment is None:
        return row + [""] * (len(EXPORT_COLUMNS) - len(row))
    return [
        *row,
        payment.id,
        payment.provider,
        str(payment.status),
        "yes" if payment.credited else "no",
        payment.request_id if payment.request_id is not None else "",
        payment.payer_id if payment.payer_id is not None else "",
        _cell(payment.payer_name),
        payment.amount_minor,
        payment.currency,
        _decimal(payment.amount_minor, payment.currency),
        payment.refunded_minor,
        _decimal(payment.refunded_minor, payment.currency),
        payment.provider_ref or "",
        _iso(payment.settled_at),
    ]
