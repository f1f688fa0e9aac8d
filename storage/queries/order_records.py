"""What is on record about one order, oldest first: its payments, refunds, requests, shop callbacks and events,
and the first names of the people in them (an admin's /order and /refund); and its charges a refund can still
give money back from."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CallbackDelivery, OrderEvent, Payment, PaymentStatus, PayRequest, Refund, User


async def payments_of_order(session: AsyncSession, *, order_id: int) -> list[Payment]:
    statement = select(Payment).where(col(Payment.order_id) == order_id).order_by(col(Payment.id))
    return list((await session.exec(statement)).all())


async def refunds_of_order(session: AsyncSession, *, order_id: int) -> list[Refund]:
    statement = (
        select(Refund)
        .join(Payment, col(Payment.id) == col(Refund.payment_id))
        .where(col(Payment.order_id) == order_id)
        .order_by(col(Refund.id))
    )
    return list((await session.exec(statement)).all())


async def requests_of_order(session: AsyncSession, *, order_id: int) -> list[PayRequest]:
    statement = select(PayRequest).where(col(PayRequest.order_id) == order_id).order_by(col(PayRequest.id))
    return list((await session.exec(statement)).all())


async def callbacks_of_order(session: AsyncSession, *, order_id: int) -> list[CallbackDelivery]:
    statement = (
        select(CallbackDelivery).where(col(CallbackDelivery.order_id) == order_id).order_by(col(CallbackDelivery.id))
    )
    return list((await session.exec(statement)).all())


async def events_of_order(session: AsyncSession, *, order_id: int) -> list[OrderEvent]:
    statement = select(OrderEvent).where(col(OrderEvent.order_id) == order_id).order_by(col(OrderEvent.id))
    return list((await session.exec(statement)).all())


async def first_names(session: AsyncSession, *, user_ids: Collection[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = (await session.exec(select(User.id, User.first_name).where(col(User.id).in_(user_ids)))).all()
    return {user_id: name for user_id, name in rows if user_id is not None}


async def charges_to_refund(session: AsyncSession, *, order_id: int, uncredited_only: bool) -> list[Payment]:
    """The order's charges still holding money a refund can give back, oldest first (uncredited_only: only
    those never credited to the order)."""
    conditions: list[ColumnElement[bool]] = [
        col(Payment.order_id) == order_id,
        col(Payment.status) == PaymentStatus.SUCCEEDED,
        col(Payment.provider_ref).is_not(None),
        col(Payment.refunded_minor) < col(Payment.amount_minor),
    ]
    if uncredited_only:
        conditions.append(col(Payment.credited).is_(False))
    return list((await session.exec(select(Payment).where(*conditions).order_by(col(Payment.id)))).all())
