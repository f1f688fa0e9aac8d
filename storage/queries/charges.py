"""Charges on the books: the payments credited to an order or to a request, and the payments of orders."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Payment, PaymentStatus, PayRequest


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


async def payments_of_orders(session: AsyncSession, *, order_ids: Sequence[int], credited_only: bool) -> list[Payment]:
    """The payments of these orders (only the credited charges, with credited_only), oldest first."""
    statement = select(Payment).where(col(Payment.order_id).in_(order_ids))
    if credited_only:
        statement = statement.where(col(Payment.credited).is_(True))
    return list((await session.exec(statement.order_by(col(Payment.id)))).all())


# Read for a request's view at each tap and payment: built once.
_CONTRIBUTIONS = (
    select(Payment)
    .where(col(Payment.request_id) == bindparam("request_id"), col(Payment.credited).is_(True))
    .order_by(col(Payment.id))
)


async def contributions_to(session: AsyncSession, *, request_id: int) -> list[Payment]:
    """The payments credited to the request, oldest first."""
    return list((await session.exec(_CONTRIBUTIONS, params={"request_id": request_id})).all())


async def contribution_to_requester(session: AsyncSession, *, payment_id: int, requester_id: int) -> Payment | None:
    """The payment, if it was credited to one of this person's requests."""
    statement = (
        select(Payment)
        .join(PayRequest, PayRequest.id == Payment.request_id)  # type: ignore[arg-type]
        .where(Payment.id == payment_id, PayRequest.requester_id == requester_id, col(Payment.credited).is_(True))
    )
    return (await session.exec(statement)).first()
