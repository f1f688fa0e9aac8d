"""A person's own charges (money that moved: paid, refunded or owed back), newest first, with their orders: what
/paysupport lists for them to quote to the shop."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Order, Payment, PaymentStatus

MONEY_MOVED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.REFUND_OWED)


async def recent_charges_of_payer(session: AsyncSession, *, payer_id: int, limit: int) -> list[tuple[Payment, Order]]:
    statement = (
        select(Payment, Order)
        .join(Order, col(Order.id) == col(Payment.order_id))
        .where(col(Payment.payer_id) == payer_id, col(Payment.status).in_(MONEY_MOVED))
        .order_by(col(Payment.id).desc())
        .limit(limit)
    )
    return [(payment, order) for payment, order in (await session.exec(statement)).all()]


async def charge_of_payer(session: AsyncSession, *, payer_id: int, payment_id: int) -> tuple[Payment, Order] | None:
    """The charge, if it is this person's (a button's payment id is not taken on trust)."""
    statement = (
        select(Payment, Order)
        .join(Order, col(Order.id) == col(Payment.order_id))
        .where(
            col(Payment.id) == payment_id,
            col(Payment.payer_id) == payer_id,
            col(Payment.status).in_(MONEY_MOVED),
        )
    )
    found = (await session.exec(statement)).first()
    return None if found is None else (found[0], found[1])
