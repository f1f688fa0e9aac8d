"""The /stats figures of a period counted live from the base tables (orders, payments, pay_requests, refunds),
each aggregated by the database (COUNT, SUM, GROUP BY) over a range of a timestamp column: for /stats itself,
and for the hourly rollup (services.period_tally).

Each range goes through an index leading with its timestamp (ix_orders_created_at_id, ix_orders_paid_at,
ix_pay_requests_created_at, ix_payments_settled_at, ix_refunds_created_at).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, extract, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Order, Payment, PayRequest, Refund, RequestMode


def _in_period(column: Any, since: datetime, until: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return col(column) >= since, col(column) < until


async def _count(session: AsyncSession, table: Any, *where: ColumnElement[bool]) -> int:
    return int((await session.exec(select(func.count()).select_from(table).where(*where))).one())


def _credited(since: datetime, until: datetime, *columns: Any) -> Any:
    """Of the charges credited to the orders paid in the period: found through the paid_at index, then
    payments.order_id (indexed); split orders have several."""
    return (
        select(*columns)
        .select_from(Payment)
        .join(Order, col(Order.id) == col(Payment.order_id))
        .where(*_in_period(Order.paid_at, since, until), col(Payment.credited).is_(True))
    )


async def orders_created(session: AsyncSession, *, since: datetime, until: datetime) -> int:
    return await _count(session, Order, *_in_period(Order.created_at, since, until))


async def orders_paid(session: AsyncSession, *, since: datetime, until: datetime) -> int:
    return await _count(session, Order, *_in_period(Order.paid_at, since, until))  # ix_orders_paid_at


async def credited_by_currency(session: AsyncSession, *, since: datetime, until: datetime) -> list[tuple[Any, ...]]:
    """(currency, count, sum) of the charges credited to the orders paid in the period."""
    amount = func.sum(col(Payment.amount_minor))
    rows = await session.exec(
        _credited(since, until, col(Payment.currency), func.count(col(Payment.id)), amount).group_by(
            col(Payment.currency)
        )
    )
    return [tuple(row) for row in rows.all()]


async def credited_by_provider(session: AsyncSession, *, since: datetime, until: datetime) -> list[Any]:
    """(provider, currency, count, sum) of the charges credited to the orders paid in the period."""
    provider, currency = col(Payment.provider), col(Payment.currency)
    figures = func.count(col(Payment.id)), func.sum(col(Payment.amount_minor))
    rows = await session.exec(_credited(since, until, provider, currency, *figures).group_by(provider, currency))
    return list(rows.all())


async def paid_by_friends(session: AsyncSession, *, since: datetime, until: datetime) -> int:
    """Orders paid in the period with a credited charge that came through a request from someone other than
    the person who asked (payer_id is empty for a friend paying on the request's web page)."""
    not_the_asker = or_(col(Payment.payer_id).is_(None), col(Payment.payer_id) != col(PayRequest.requester_id))
    statement = (
        _credited(since, until, func.count(func.distinct(col(Order.id))))
        .join(PayRequest, col(PayRequest.id) == col(Payment.request_id))
        .where(not_the_asker)
    )
    return int((await session.exec(statement)).one())


async def split_requests_opened(session: AsyncSession, *, since: datetime, until: datetime) -> int:
    opened = _in_period(PayRequest.created_at, since, until)
    return await _count(session, PayRequest, col(PayRequest.mode) == RequestMode.SPLIT, *opened)


async def contributions_credited(session: AsyncSession, *, since: datetime, until: datetime) -> int:
    """Chip-ins to split requests credited (settled) in the period."""
    statement = (
        select(func.count(col(Payment.id)))
        .join(PayRequest, col(PayRequest.id) == col(Payment.request_id))
        .where(
            col(PayRequest.mode) == RequestMode.SPLIT,
            col(Payment.credited).is_(True),
            *_in_period(Payment.settled_at, since, until),
        )
    )
    return int((await session.exec(statement)).one())


async def refunds_by_status(
    session: AsyncSession, *, statuses: Sequence[str], since: datetime, until: datetime
) -> list[Any]:
    """(status, currency, count, sum) of the refunds with these statuses created in the period, in one statement:
    one snapshot, so a refund finishing meanwhile is counted in one status, never in none."""
    statement = (
        select(col(Refund.status), col(Refund.currency), func.count(col(Refund.id)), func.sum(col(Refund.amount_minor)))
        .where(col(Refund.status).in_(list(statuses)), *_in_period(Refund.created_at, since, until))
        .group_by(col(Refund.status), col(Refund.currency))
    )
    return list((await session.exec(statement)).all())


def _seconds_to_pay(session: AsyncSession) -> ColumnElement[Any]:
    """paid_at - created_at in seconds, computed by the database: cheaper than reading two timestamps."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps these as ISO text; julianday() reads them as fractional days.
        return (func.julianday(col(Order.paid_at)) - func.julianday(col(Order.created_at))) * 86400.0
    return extract("epoch", col(Order.paid_at) - col(Order.created_at))


async def seconds_to_pay(session: AsyncSession, *, since: datetime, until: datetime) -> list[float]:
    """How long each order paid in the period took to pay, in seconds (one row per order: keep periods short)."""
    paid = await session.exec(select(_seconds_to_pay(session)).where(*_in_period(Order.paid_at, since, until)))
    return [float(seconds) for seconds in paid.all()]


async def middle_seconds_to_pay(session: AsyncSession, *, since: datetime, until: datetime, paid: int) -> list[Any]:
    """The middle row (two rows for an even count) of the period's paid orders sorted by the seconds they took
    to pay, `paid` being how many there are. Portable: the database sorts only those orders (found through
    ix_orders_paid_at) and reads the middle with LIMIT/OFFSET."""
    seconds = _seconds_to_pay(session)
    statement = (
        select(seconds)
        .where(*_in_period(Order.paid_at, since, until))
        .order_by(seconds)
        .offset((paid - 1) // 2)
        .limit(1 if paid % 2 else 2)
    )
    return list((await session.exec(statement)).all())


async def first_order_time(session: AsyncSession) -> datetime | None:
    """When the first order was made (None before any was)."""
    return (await session.exec(select(func.min(Order.created_at)))).one()
