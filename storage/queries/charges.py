"""Charges on the books: the payments credited to an order or to a request, and what is refunded of each."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, func, select, update
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
