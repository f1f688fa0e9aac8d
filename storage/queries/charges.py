"""Charges on the books: the payments credited to an order or to a request, what is refunded of each, and the
payments of orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, bindparam
from sqlalchemy import select as core_select
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import run_core
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


# Read for a request's view at each tap and payment: built once, in Core (storage.queries.pay_requests says why).
_payments = Payment.__table__  # type: ignore[attr-defined]
_CONTRIBUTIONS = (
    core_select(_payments)
    .where(_payments.c.request_id == bindparam("request_id"), _payments.c.credited.is_(True))
    .order_by(_payments.c.id)
)


async def contributions_to(session: AsyncSession, *, request_id: int) -> Sequence[RowMapping]:
    """The payments credited to the request, oldest first: the columns of each, by name."""
    return (await run_core(session, _CONTRIBUTIONS, {"request_id": request_id})).mappings().all()


async def contribution_to_requester(session: AsyncSession, *, payment_id: int, requester_id: int) -> Payment | None:
    """The payment, if it was credited to one of this person's requests."""
    statement = (
        select(Payment)
        .join(PayRequest, PayRequest.id == Payment.request_id)  # type: ignore[arg-type]
        .where(Payment.id == payment_id, PayRequest.requester_id == requester_id, col(Payment.credited).is_(True))
    )
    return (await session.exec(statement)).first()


async def credited_left(session: AsyncSession, *, order_id: int) -> int:
    """What of the charges credited to the order is not refunded: still with the shop."""
    kept = func.coalesce(func.sum(col(Payment.amount_minor) - col(Payment.refunded_minor)), 0)
    statement = select(kept).where(Payment.order_id == order_id, col(Payment.credited).is_(True))
    return int((await session.exec(statement)).one())


async def reserve_refund(session: AsyncSession, *, payment_id: int, part: int) -> bool:
    """Whether the part was reserved on the succeeded charge: one conditional UPDATE, so concurrent refunds can
    never reserve more than was paid."""
    reserved = await session.exec(
        update(Payment)
        .where(
            col(Payment.id) == payment_id,
            col(Payment.status) == PaymentStatus.SUCCEEDED,
            col(Payment.refunded_minor) + part <= col(Payment.amount_minor),
        )
        .values(refunded_minor=col(Payment.refunded_minor) + part)
    )
    return bool(reserved.rowcount == 1)


async def release_refund(session: AsyncSession, *, payment_id: int, part: int) -> None:
    """The part no longer counted as refunded on the charge (its refund failed, or gave back less)."""
    await session.exec(
        update(Payment).where(col(Payment.id) == payment_id).values(refunded_minor=col(Payment.refunded_minor) - part)
    )


async def close_refunded(
    session: AsyncSession, *, payment_id: int, status: PaymentStatus, refunded_at: datetime | None
) -> None:
    """The charge, nothing of it left, moved to refunded (or refund owed)."""
    await session.exec(
        update(Payment).where(col(Payment.id) == payment_id).values(status=status, refunded_at=refunded_at)
    )
