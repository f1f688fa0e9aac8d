"""Charges on the books: the payments credited to an order or to a request."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Payment, PaymentStatus


async def credited_parts(session: AsyncSession, *, request_id: int) -> list[int]:
    """The chip-ins (or the one payment) credited to the request, to give back when it closes."""
    statement = select(Payment.id).where(
        Payment.request_id == request_id,
        col(Payment.credited).is_(True),
        Payment.status == PaymentStatus.SUCCEEDED,
    )
    return [payment_id for payment_id in (await session.exec(statement)).all() if payment_id is not None]


async def credited_to_order(session: AsyncSession, *, order_id: int) -> list[Payment]:
    statement = select(Payment).where(Payment.order_id == order_id, col(Payment.credited).is_(True))
    return list((await session.exec(statement)).all())
